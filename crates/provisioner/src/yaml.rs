//! The descriptor's YAML as a tree whose every node knows where it is in the text, so each
//! problem can point at its line and column and every problem can be found in one pass
//! (a typed decoder stops at the first).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use crate::problem::{DOCUMENT, Problem};

/// A YAML node with its position.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub value: Value,
    pub line: u32,
    pub column: u32,
    /// The scalar as written (for numbers and booleans read where text is expected).
    raw: Option<String>,
}

/// A YAML value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order (keys are unique: duplicates are a syntax error).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The node's text when it is a scalar other than null: a string as given, a number or a
    /// boolean as written (`version: 1.0` reads as `1.0`, not `1`).
    pub fn text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                Some(self.raw.clone().unwrap_or_else(|| match &self.value {
                    Value::Bool(b) => b.to_string(),
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => f.to_string(),
                    _ => String::new(),
                }))
            }
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The value of `key`, for a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.text().as_deref() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A problem about this node: it points at the node's position.
    pub fn problem(&self, field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem::new(field, problem, fix).at(self.line, self.column)
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a whole number",
            Value::Float(_) => "a decimal number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl fmt::Display for Node {
    /// The value as it reads in a message: a scalar's text, or its kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(text) => f.write_str(&text),
            None => f.write_str(self.kind()),
        }
    }
}

/// Parses a YAML document (YAML 1.2 booleans: `yes`, `no`, `on`, `off` are strings;
/// duplicate keys are an error; aliases are bounded).
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    let root: Spanned<Raw> = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let location = e.location().filter(|l| l.line() > 0);
        // The position is given apart; the message need not repeat it.
        let mut message = e.to_string();
        if let Some(l) = location {
            let (line, column) = (l.line(), l.column());
            message = message
                .strip_suffix(&format!(" at line {line}, column {column}"))
                .or_else(|| message.strip_prefix(&format!("line {line} column {column}: ")))
                .unwrap_or(&message)
                .to_string();
        }
        let problem = Problem::new(
            DOCUMENT,
            format!("the descriptor is not valid YAML: {message}"),
            "correct the YAML at the position given (indentation, a missing `:` or closing bracket, a duplicated key)",
        );
        match location {
            Some(l) => problem.at(clamp(l.line()), clamp(l.column())),
            None => problem,
        }
    })?;
    Ok(convert(root, text))
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn convert(spanned: Spanned<Raw>, text: &str) -> Node {
    let raw = source(&spanned.defined, text);
    let (line, column) = (clamp(spanned.referenced.line()), clamp(spanned.referenced.column()));
    let value = match spanned.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|i| convert(i, text)).collect()),
        Raw::Map(entries) => {
            Value::Map(entries.into_iter().map(|(k, v)| (convert(k, text), convert(v, text))).collect())
        }
    };
    Node { value, line, column, raw }
}

/// The text of a scalar at `location`.
fn source(location: &Location, text: &str) -> Option<String> {
    let span = location.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let slice = text.get(start..start.checked_add(len)?)?.trim();
    (!slice.is_empty()).then(|| slice.to_string())
}

/// What the deserializer gives, before positions are flattened into [`Node`].
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw, D::Error> {
        Raw::deserialize(deserializer)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<Raw>, Spanned<Raw>>()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_position_and_text() {
        let root = parse("a: 1.0\nb:\n  c: \"200\"\n  d: [x, no, 7]\n").unwrap();
        let a = root.get("a").unwrap();
        assert_eq!((a.line, a.column, a.text().as_deref()), (1, 4, Some("1.0")));
        let c = root.get("b").unwrap().get("c").unwrap();
        assert_eq!((c.line, c.column, c.text().as_deref()), (3, 6, Some("200")));
        let Value::Seq(items) = &root.get("b").unwrap().get("d").unwrap().value else { panic!() };
        // YAML 1.2: `no` is a string.
        assert!(matches!(&items[1].value, Value::Str(s) if s == "no"));
        assert_eq!(items[2].text().as_deref(), Some("7"));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let p = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(p.field, "descriptor");
        assert_eq!((p.line, p.column), (Some(2), Some(2)));
        assert!(!p.problem.contains("line 2"), "{}", p.problem);
        let p = parse("a: 1\na: 2\n").unwrap_err();
        assert!(p.problem.contains("duplicate"), "{}", p.problem);
        assert_eq!(p.line, Some(2));
    }
}
