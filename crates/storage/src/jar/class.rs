//! Class file parsing (no I/O): enough of the JVM class format (JVMS §4) to name the class and
//! list its methods with their access flags and descriptors, so the jar check can prove that
//! `public static void main(String[])` is there.

use std::fmt;

/// `ACC_PUBLIC` for classes and methods.
pub const ACC_PUBLIC: u16 = 0x0001;
/// `ACC_STATIC` for methods.
pub const ACC_STATIC: u16 = 0x0008;
/// `ACC_INTERFACE` for classes.
pub const ACC_INTERFACE: u16 = 0x0200;
/// The descriptor of `void main(String[])`.
pub const MAIN_DESCRIPTOR: &str = "([Ljava/lang/String;)V";

/// Why bytes are not a class file this parser understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFormatError(pub String);

impl fmt::Display for ClassFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One method of a class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Access flags (`ACC_*`).
    pub access: u16,
    /// The method's name, e.g. `main`.
    pub name: String,
    /// The method's descriptor, e.g. `([Ljava/lang/String;)V`.
    pub descriptor: String,
}

impl Method {
    /// Whether this is `public static void main(String[])`, the entry point Spark (and `java`) call.
    pub fn is_java_main(&self) -> bool {
        self.name == "main"
            && self.descriptor == MAIN_DESCRIPTOR
            && self.access & (ACC_PUBLIC | ACC_STATIC) == ACC_PUBLIC | ACC_STATIC
    }
}

/// What the jar check needs from a class file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassInfo {
    /// Major version (52 = Java 8, 61 = Java 17, ...).
    pub major_version: u16,
    /// Minor version.
    pub minor_version: u16,
    /// Class access flags.
    pub access: u16,
    /// The class's binary name with slashes, e.g. `com/example/Main`.
    pub this_class: String,
    /// Every method the class declares.
    pub methods: Vec<Method>,
}

impl ClassInfo {
    /// The class's `public static void main(String[])`, if it declares one.
    pub fn java_main(&self) -> Option<&Method> {
        self.methods.iter().find(|m| m.is_java_main())
    }

    /// Methods named `main` that are not the entry point (wrong descriptor or flags), for errors.
    pub fn other_mains(&self) -> impl Iterator<Item = &Method> {
        self.methods.iter().filter(|m| m.name == "main" && !m.is_java_main())
    }
}

/// One constant pool slot, reduced to what is needed.
#[derive(Debug, Clone)]
enum Constant {
    Utf8(String),
    Class(u16),
    /// Any other kind, and the unusable slot after a long or a double.
    Other,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ClassFormatError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            ClassFormatError(format!("the class file ends inside {what} (byte {} of {})", self.at, self.bytes.len()))
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ClassFormatError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ClassFormatError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ClassFormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn skip_attributes(&mut self, what: &str) -> Result<(), ClassFormatError> {
        let count = self.u16(what)?;
        for _ in 0..count {
            self.u16(what)?;
            let len = self.u32(what)?;
            self.take(len as usize, what)?;
        }
        Ok(())
    }
}

/// Parses a class file's header, constant pool, fields (skipped) and methods.
pub fn parse_class(bytes: &[u8]) -> Result<ClassInfo, ClassFormatError> {
    let mut r = Reader { bytes, at: 0 };
    let magic = r.u32("the magic number")?;
    if magic != 0xCAFE_BABE {
        return Err(ClassFormatError(format!("it does not start with 0xCAFEBABE (found {magic:#010X})")));
    }
    let minor_version = r.u16("the version")?;
    let major_version = r.u16("the version")?;
    let pool = parse_constant_pool(&mut r)?;
    let access = r.u16("the class access flags")?;
    let this_index = r.u16("this_class")?;
    let this_class = class_name(&pool, this_index)?;
    r.u16("super_class")?;
    let interfaces = r.u16("the interface count")?;
    r.take(usize::from(interfaces) * 2, "the interface table")?;
    let fields = r.u16("the field count")?;
    for _ in 0..fields {
        r.take(6, "a field")?;
        r.skip_attributes("a field's attributes")?;
    }
    let count = r.u16("the method count")?;
    let mut methods = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let access = r.u16("a method")?;
        let name = utf8(&pool, r.u16("a method")?)?;
        let descriptor = utf8(&pool, r.u16("a method")?)?;
        r.skip_attributes("a method's attributes")?;
        methods.push(Method { access, name, descriptor });
    }
    Ok(ClassInfo { major_version, minor_version, access, this_class, methods })
}

fn parse_constant_pool(r: &mut Reader<'_>) -> Result<Vec<Constant>, ClassFormatError> {
    let count = r.u16("the constant pool count")?;
    // Slot 0 is unused; slots run from 1 to count - 1.
    let mut pool = vec![Constant::Other];
    while pool.len() < usize::from(count) {
        let tag = r.u8("the constant pool")?;
        let (constant, wide) = match tag {
            1 => {
                let len = r.u16("a UTF-8 constant")?;
                let raw = r.take(usize::from(len), "a UTF-8 constant")?;
                (Constant::Utf8(decode_modified_utf8(raw)), false)
            }
            7 => (Constant::Class(r.u16("a class constant")?), false),
            // MethodType, Module, Package, String: one u16.
            8 | 16 | 19 | 20 => {
                r.take(2, "a constant")?;
                (Constant::Other, false)
            }
            // MethodHandle: u8 + u16.
            15 => {
                r.take(3, "a method handle constant")?;
                (Constant::Other, false)
            }
            // Integer, Float, Field/Method/InterfaceMethod refs, NameAndType, Dynamic, InvokeDynamic.
            3 | 4 | 9 | 10 | 11 | 12 | 17 | 18 => {
                r.take(4, "a constant")?;
                (Constant::Other, false)
            }
            // Long and Double take two slots.
            5 | 6 => {
                r.take(8, "a long or double constant")?;
                (Constant::Other, true)
            }
            t => {
                return Err(ClassFormatError(format!(
                    "unknown constant pool tag {t} at slot {} (is this a class file?)",
                    pool.len()
                )));
            }
        };
        pool.push(constant);
        if wide {
            pool.push(Constant::Other);
        }
    }
    Ok(pool)
}

/// Decodes the JVM's modified UTF-8; anything odd is replaced rather than rejected, since names
/// are compared only with ASCII strings.
fn decode_modified_utf8(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

fn utf8(pool: &[Constant], index: u16) -> Result<String, ClassFormatError> {
    match pool.get(usize::from(index)) {
        Some(Constant::Utf8(s)) => Ok(s.clone()),
        _ => Err(ClassFormatError(format!("constant pool slot {index} should be a UTF-8 string"))),
    }
}

fn class_name(pool: &[Constant], index: u16) -> Result<String, ClassFormatError> {
    match pool.get(usize::from(index)) {
        Some(Constant::Class(name)) => utf8(pool, *name),
        _ => Err(ClassFormatError(format!("constant pool slot {index} should name a class"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal class `a/B` with the given methods (name, descriptor, flags).
    fn class_bytes(methods: &[(&str, &str, u16)]) -> Vec<u8> {
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let utf8 = |s: &str, pool: &mut Vec<Vec<u8>>| {
            let mut e = vec![1];
            e.extend((s.len() as u16).to_be_bytes());
            e.extend(s.as_bytes());
            pool.push(e);
            pool.len() as u16
        };
        let name = utf8("a/B", &mut pool);
        pool.push(vec![7, (name >> 8) as u8, name as u8]);
        let this = pool.len() as u16;
        // A long, to exercise the two-slot rule.
        pool.push(vec![5, 0, 0, 0, 0, 0, 0, 0, 1]);
        pool.push(Vec::new());
        let mut method_refs = Vec::new();
        for (n, d, f) in methods {
            let ni = utf8(n, &mut pool);
            let di = utf8(d, &mut pool);
            method_refs.push((*f, ni, di));
        }
        let mut out = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 61];
        out.extend(((pool.len() + 1) as u16).to_be_bytes());
        for e in &pool {
            out.extend(e);
        }
        out.extend(ACC_PUBLIC.to_be_bytes());
        out.extend(this.to_be_bytes());
        out.extend([0, 0, 0, 0, 0, 0]); // super, interfaces, fields
        out.extend((method_refs.len() as u16).to_be_bytes());
        for (f, n, d) in method_refs {
            out.extend(f.to_be_bytes());
            out.extend(n.to_be_bytes());
            out.extend(d.to_be_bytes());
            out.extend([0, 0]);
        }
        out.extend([0, 0]); // class attributes
        out
    }

    #[test]
    fn finds_public_static_void_main() {
        let info = parse_class(&class_bytes(&[("main", MAIN_DESCRIPTOR, ACC_PUBLIC | ACC_STATIC)])).unwrap();
        assert_eq!(info.this_class, "a/B");
        assert_eq!(info.major_version, 61);
        assert!(info.java_main().is_some());
    }

    #[test]
    fn instance_main_and_wrong_descriptor_do_not_count() {
        let info = parse_class(&class_bytes(&[
            ("main", MAIN_DESCRIPTOR, ACC_PUBLIC),
            ("main", "()V", ACC_PUBLIC | ACC_STATIC),
        ]))
        .unwrap();
        assert!(info.java_main().is_none());
        assert_eq!(info.other_mains().count(), 2);
    }

    #[test]
    fn truncated_class_is_an_error_not_a_panic() {
        let bytes = class_bytes(&[("main", MAIN_DESCRIPTOR, ACC_PUBLIC | ACC_STATIC)]);
        for len in 0..bytes.len() - 2 {
            assert!(parse_class(&bytes[..len]).is_err(), "prefix of {len} bytes parsed");
        }
    }
}
