//! The few MIT Kerberos calls consort makes, loaded at run time from the system's libraries
//! (`libkrb5.so.3`, `libgssapi_krb5.so.2`), so building consort needs no Kerberos headers and a
//! machine without Kerberos gets a clear error only when Kerberos is configured.
//!
//! Everything unsafe in the crate is here, behind safe wrappers that own what they allocate.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{ErrorKind, KerberosError};

type Krb5Context = *mut c_void;
type Krb5Principal = *mut c_void;
type Krb5Keytab = *mut c_void;
type Krb5Ccache = *mut c_void;
type Krb5Opt = *mut c_void;
type Krb5Error = i32;

#[repr(C)]
struct Krb5Data {
    magic: i32,
    length: u32,
    data: *mut c_char,
}

#[repr(C)]
struct Krb5Keyblock {
    magic: i32,
    enctype: i32,
    length: u32,
    contents: *mut u8,
}

/// `krb5_ticket_times`: seconds since the epoch, as 32-bit values (MIT reads them unsigned).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TicketTimes {
    pub authtime: i32,
    pub starttime: i32,
    pub endtime: i32,
    pub renew_till: i32,
}

/// `krb5_creds`, zeroed before use and freed with `krb5_free_cred_contents`.
#[repr(C)]
struct Krb5Creds {
    magic: i32,
    client: Krb5Principal,
    server: Krb5Principal,
    keyblock: Krb5Keyblock,
    times: TicketTimes,
    is_skey: u32,
    ticket_flags: i32,
    addresses: *mut c_void,
    ticket: Krb5Data,
    second_ticket: Krb5Data,
    authdata: *mut c_void,
}

impl Krb5Creds {
    fn zeroed() -> Krb5Creds {
        // SAFETY: krb5_creds is plain data; all-zero is its documented initial state.
        unsafe { std::mem::zeroed() }
    }
}

#[repr(C)]
struct GssBuffer {
    length: usize,
    value: *mut c_void,
}

#[repr(C)]
struct GssOid {
    length: u32,
    elements: *const c_void,
}

#[repr(C)]
struct GssKeyValue {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct GssKeyValueSet {
    count: u32,
    elements: *const GssKeyValue,
}

type GssName = *mut c_void;
type GssCred = *mut c_void;
type GssCtx = *mut c_void;

// OIDs (DER contents without tag and length).
const KRB5_NT_PRINCIPAL_NAME: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
const SPNEGO_MECH: &[u8] = b"\x2b\x06\x01\x05\x05\x02";
const GSS_C_INITIATE: c_int = 1;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MUTUAL_FLAG: u32 = 2;
const GSS_S_CONTINUE_NEEDED: u32 = 1;
/// The routine-error bits of a GSS major status.
const GSS_ROUTINE_ERROR_MASK: u32 = 0xff << 16;

struct Libraries {
    _krb5: libloading::Library,
    _gss: libloading::Library,
    init_context: unsafe extern "C" fn(*mut Krb5Context) -> Krb5Error,
    free_context: unsafe extern "C" fn(Krb5Context),
    parse_name: unsafe extern "C" fn(Krb5Context, *const c_char, *mut Krb5Principal) -> Krb5Error,
    free_principal: unsafe extern "C" fn(Krb5Context, Krb5Principal),
    unparse_name: unsafe extern "C" fn(Krb5Context, Krb5Principal, *mut *mut c_char) -> Krb5Error,
    free_unparsed_name: unsafe extern "C" fn(Krb5Context, *mut c_char),
    kt_resolve: unsafe extern "C" fn(Krb5Context, *const c_char, *mut Krb5Keytab) -> Krb5Error,
    kt_close: unsafe extern "C" fn(Krb5Context, Krb5Keytab) -> Krb5Error,
    cc_resolve: unsafe extern "C" fn(Krb5Context, *const c_char, *mut Krb5Ccache) -> Krb5Error,
    cc_initialize: unsafe extern "C" fn(Krb5Context, Krb5Ccache, Krb5Principal) -> Krb5Error,
    cc_store_cred: unsafe extern "C" fn(Krb5Context, Krb5Ccache, *mut Krb5Creds) -> Krb5Error,
    cc_get_principal: unsafe extern "C" fn(Krb5Context, Krb5Ccache, *mut Krb5Principal) -> Krb5Error,
    cc_close: unsafe extern "C" fn(Krb5Context, Krb5Ccache) -> Krb5Error,
    opt_alloc: unsafe extern "C" fn(Krb5Context, *mut Krb5Opt) -> Krb5Error,
    opt_free: unsafe extern "C" fn(Krb5Context, Krb5Opt),
    init_creds_keytab: unsafe extern "C" fn(
        Krb5Context,
        *mut Krb5Creds,
        Krb5Principal,
        Krb5Keytab,
        i32,
        *const c_char,
        Krb5Opt,
    ) -> Krb5Error,
    renewed_creds:
        unsafe extern "C" fn(Krb5Context, *mut Krb5Creds, Krb5Principal, Krb5Ccache, *const c_char) -> Krb5Error,
    free_cred_contents: unsafe extern "C" fn(Krb5Context, *mut Krb5Creds),
    error_message: unsafe extern "C" fn(Krb5Context, Krb5Error) -> *const c_char,
    free_error_message: unsafe extern "C" fn(Krb5Context, *const c_char),
    gss_import_name: unsafe extern "C" fn(*mut u32, *mut GssBuffer, *const GssOid, *mut GssName) -> u32,
    gss_release_name: unsafe extern "C" fn(*mut u32, *mut GssName) -> u32,
    gss_acquire_cred_from: unsafe extern "C" fn(
        *mut u32,
        GssName,
        u32,
        *const c_void,
        c_int,
        *const GssKeyValueSet,
        *mut GssCred,
        *mut c_void,
        *mut u32,
    ) -> u32,
    gss_release_cred: unsafe extern "C" fn(*mut u32, *mut GssCred) -> u32,
    gss_init_sec_context: unsafe extern "C" fn(
        *mut u32,
        GssCred,
        *mut GssCtx,
        GssName,
        *const GssOid,
        u32,
        u32,
        *const c_void,
        *const GssBuffer,
        *mut c_void,
        *mut GssBuffer,
        *mut u32,
        *mut u32,
    ) -> u32,
    gss_delete_sec_context: unsafe extern "C" fn(*mut u32, *mut GssCtx, *mut GssBuffer) -> u32,
    gss_release_buffer: unsafe extern "C" fn(*mut u32, *mut GssBuffer) -> u32,
    gss_display_status: unsafe extern "C" fn(*mut u32, u32, c_int, *const GssOid, *mut u32, *mut GssBuffer) -> u32,
}

// SAFETY: the struct holds only function pointers into libraries that stay loaded for the
// process's life; MIT Kerberos is thread-safe when each thread uses its own krb5_context.
unsafe impl Send for Libraries {}
unsafe impl Sync for Libraries {}

fn libraries() -> Result<&'static Libraries, KerberosError> {
    static LIBS: OnceLock<Result<Libraries, String>> = OnceLock::new();
    LIBS.get_or_init(load).as_ref().map_err(|detail| {
        KerberosError::new(ErrorKind::LibraryMissing, format!("MIT Kerberos cannot be loaded: {detail}"))
    })
}

fn load() -> Result<Libraries, String> {
    // SAFETY: loading the system's MIT Kerberos libraries runs only their initialisers.
    let krb5 = unsafe { libloading::Library::new("libkrb5.so.3") }.map_err(|e| e.to_string())?;
    let gss = unsafe { libloading::Library::new("libgssapi_krb5.so.2") }.map_err(|e| e.to_string())?;
    macro_rules! sym {
        ($lib:expr, $name:literal) => {
            // SAFETY: the field's type is the C prototype of the symbol in MIT's krb5.h/gssapi.h.
            *unsafe { $lib.get($name) }.map_err(|e| format!("{}: {e}", String::from_utf8_lossy($name)))?
        };
    }
    Ok(Libraries {
        init_context: sym!(krb5, b"krb5_init_context"),
        free_context: sym!(krb5, b"krb5_free_context"),
        parse_name: sym!(krb5, b"krb5_parse_name"),
        free_principal: sym!(krb5, b"krb5_free_principal"),
        unparse_name: sym!(krb5, b"krb5_unparse_name"),
        free_unparsed_name: sym!(krb5, b"krb5_free_unparsed_name"),
        kt_resolve: sym!(krb5, b"krb5_kt_resolve"),
        kt_close: sym!(krb5, b"krb5_kt_close"),
        cc_resolve: sym!(krb5, b"krb5_cc_resolve"),
        cc_initialize: sym!(krb5, b"krb5_cc_initialize"),
        cc_store_cred: sym!(krb5, b"krb5_cc_store_cred"),
        cc_get_principal: sym!(krb5, b"krb5_cc_get_principal"),
        cc_close: sym!(krb5, b"krb5_cc_close"),
        opt_alloc: sym!(krb5, b"krb5_get_init_creds_opt_alloc"),
        opt_free: sym!(krb5, b"krb5_get_init_creds_opt_free"),
        init_creds_keytab: sym!(krb5, b"krb5_get_init_creds_keytab"),
        renewed_creds: sym!(krb5, b"krb5_get_renewed_creds"),
        free_cred_contents: sym!(krb5, b"krb5_free_cred_contents"),
        error_message: sym!(krb5, b"krb5_get_error_message"),
        free_error_message: sym!(krb5, b"krb5_free_error_message"),
        gss_import_name: sym!(gss, b"gss_import_name"),
        gss_release_name: sym!(gss, b"gss_release_name"),
        gss_acquire_cred_from: sym!(gss, b"gss_acquire_cred_from"),
        gss_release_cred: sym!(gss, b"gss_release_cred"),
        gss_init_sec_context: sym!(gss, b"gss_init_sec_context"),
        gss_delete_sec_context: sym!(gss, b"gss_delete_sec_context"),
        gss_release_buffer: sym!(gss, b"gss_release_buffer"),
        gss_display_status: sym!(gss, b"gss_display_status"),
        _krb5: krb5,
        _gss: gss,
    })
}

fn cstring(what: &str, value: &str) -> Result<CString, KerberosError> {
    CString::new(value)
        .map_err(|_| KerberosError::new(ErrorKind::Config, format!("{what} {value:?} contains a NUL byte")))
}

/// A `krb5_context`: reads the configuration (`KRB5_CONFIG`, else /etc/krb5.conf) when made.
/// One per operation, never shared between threads.
pub struct Context {
    libs: &'static Libraries,
    raw: Krb5Context,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("krb5_context")
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: raw came from krb5_init_context and is freed once.
        unsafe { (self.libs.free_context)(self.raw) }
    }
}

/// A principal parsed in a context; freed with it.
struct Principal<'a> {
    ctx: &'a Context,
    raw: Krb5Principal,
}

impl Drop for Principal<'_> {
    fn drop(&mut self) {
        // SAFETY: raw came from krb5_parse_name/krb5_cc_get_principal in this context.
        unsafe { (self.ctx.libs.free_principal)(self.ctx.raw, self.raw) }
    }
}

struct Ccache<'a> {
    ctx: &'a Context,
    raw: Krb5Ccache,
}

impl Drop for Ccache<'_> {
    fn drop(&mut self) {
        // SAFETY: raw came from krb5_cc_resolve in this context.
        unsafe { (self.ctx.libs.cc_close)(self.ctx.raw, self.raw) };
    }
}

/// Credentials got from the KDC: their times, the contents freed on drop.
struct Creds<'a> {
    ctx: &'a Context,
    raw: Krb5Creds,
}

impl Drop for Creds<'_> {
    fn drop(&mut self) {
        // SAFETY: raw was filled by a krb5 call in this context (or is still zeroed).
        unsafe { (self.ctx.libs.free_cred_contents)(self.ctx.raw, &mut self.raw) }
    }
}

impl Context {
    pub fn new() -> Result<Context, KerberosError> {
        let libs = libraries()?;
        let mut raw = ptr::null_mut();
        // SAFETY: krb5_init_context writes a new context into raw.
        let code = unsafe { (libs.init_context)(&mut raw) };
        if code != 0 {
            // No context to ask for the message: the usual cause is an unreadable krb5.conf.
            return Err(KerberosError::from_code(code, "the Kerberos configuration cannot be read".to_owned()));
        }
        Ok(Context { libs, raw })
    }

    fn message(&self, code: Krb5Error) -> String {
        // SAFETY: krb5_get_error_message returns a string freed with krb5_free_error_message.
        unsafe {
            let p = (self.libs.error_message)(self.raw, code);
            if p.is_null() {
                return format!("Kerberos error {code}");
            }
            let text = CStr::from_ptr(p).to_string_lossy().into_owned();
            (self.libs.free_error_message)(self.raw, p);
            text
        }
    }

    fn check(&self, code: Krb5Error) -> Result<(), KerberosError> {
        if code == 0 { Ok(()) } else { Err(KerberosError::from_code(code, self.message(code))) }
    }

    fn principal(&self, name: &str) -> Result<Principal<'_>, KerberosError> {
        let c = cstring("principal", name)?;
        let mut raw = ptr::null_mut();
        // SAFETY: c outlives the call; raw receives a principal freed by Principal's drop.
        self.check(unsafe { (self.libs.parse_name)(self.raw, c.as_ptr(), &mut raw) })?;
        Ok(Principal { ctx: self, raw })
    }

    fn unparse(&self, p: &Principal<'_>) -> Result<String, KerberosError> {
        let mut out = ptr::null_mut();
        // SAFETY: out receives a string freed with krb5_free_unparsed_name.
        self.check(unsafe { (self.libs.unparse_name)(self.raw, p.raw, &mut out) })?;
        let name = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
        unsafe { (self.libs.free_unparsed_name)(self.raw, out) };
        Ok(name)
    }

    fn ccache(&self, name: &str) -> Result<Ccache<'_>, KerberosError> {
        let c = cstring("ticket cache", name)?;
        let mut raw = ptr::null_mut();
        // SAFETY: as for principal.
        self.check(unsafe { (self.libs.cc_resolve)(self.raw, c.as_ptr(), &mut raw) })?;
        Ok(Ccache { ctx: self, raw })
    }

    /// Logs `principal` in with the key in `keytab` and stores the new ticket-granting ticket in
    /// `ccache` (replacing what it held). Returns the ticket's times and the canonical name.
    pub fn login_with_keytab(
        &self,
        principal: &str,
        keytab: &str,
        ccache: &str,
    ) -> Result<(TicketTimes, String), KerberosError> {
        let client = self.principal(principal)?;
        let canonical = self.unparse(&client)?;
        let kt_name = cstring("keytab", keytab)?;
        let mut kt = ptr::null_mut();
        // SAFETY: kt receives a keytab handle closed below.
        self.check(unsafe { (self.libs.kt_resolve)(self.raw, kt_name.as_ptr(), &mut kt) })?;
        let cache = self.ccache(ccache)?;
        let mut creds = Creds { ctx: self, raw: Krb5Creds::zeroed() };
        let mut opt = ptr::null_mut();
        let result = (|| {
            // SAFETY: opt is allocated here and freed below; creds is zeroed; every handle
            // belongs to this context.
            self.check(unsafe { (self.libs.opt_alloc)(self.raw, &mut opt) })?;
            self.check(unsafe {
                (self.libs.init_creds_keytab)(self.raw, &mut creds.raw, client.raw, kt, 0, ptr::null(), opt)
            })?;
            self.check(unsafe { (self.libs.cc_initialize)(self.raw, cache.raw, client.raw) })?;
            self.check(unsafe { (self.libs.cc_store_cred)(self.raw, cache.raw, &mut creds.raw) })?;
            Ok((creds.raw.times, canonical))
        })();
        // SAFETY: both were allocated above in this context (opt may still be null).
        unsafe {
            if !opt.is_null() {
                (self.libs.opt_free)(self.raw, opt);
            }
            (self.libs.kt_close)(self.raw, kt);
        }
        result
    }

    /// The principal whose tickets `ccache` holds.
    pub fn cache_principal(&self, ccache: &str) -> Result<String, KerberosError> {
        let cache = self.ccache(ccache)?;
        let mut raw = ptr::null_mut();
        // SAFETY: raw receives a principal freed by Principal's drop.
        self.check(unsafe { (self.libs.cc_get_principal)(self.raw, cache.raw, &mut raw) })?;
        let p = Principal { ctx: self, raw };
        self.unparse(&p)
    }

    /// Renews the ticket-granting ticket in `ccache` (as `kinit -R` does) and stores the renewed
    /// ticket there. Returns its times. A renewal that would end no later than `replaces_end`
    /// (the ticket held) or now is refused, and the cache left as it is.
    pub fn renew(&self, ccache: &str, replaces_end: SystemTime) -> Result<TicketTimes, KerberosError> {
        let cache = self.ccache(ccache)?;
        let mut raw = ptr::null_mut();
        // SAFETY: as in cache_principal.
        self.check(unsafe { (self.libs.cc_get_principal)(self.raw, cache.raw, &mut raw) })?;
        let client = Principal { ctx: self, raw };
        let mut creds = Creds { ctx: self, raw: Krb5Creds::zeroed() };
        // SAFETY: every handle belongs to this context; creds is zeroed.
        self.check(unsafe { (self.libs.renewed_creds)(self.raw, &mut creds.raw, client.raw, cache.raw, ptr::null()) })?;
        // The KDC ends a renewed ticket at the end of its renewable life, which MIT sets at the
        // start of the ticket when the principal's maximum renewable life is 0 (the ticket is
        // still flagged renewable): such a "renewal" would replace a good ticket in the cache
        // with one that ends sooner, or has already ended. Keep the cache as it is.
        let held_until = replaces_end.max(SystemTime::now()).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if u64::from(creds.raw.times.endtime as u32) <= held_until {
            return Err(KerberosError::new(
                ErrorKind::Other,
                format!("renewing the ticket in {ccache} would not extend it: its renewable life has ended"),
            ));
        }
        self.check(unsafe { (self.libs.cc_initialize)(self.raw, cache.raw, client.raw) })?;
        self.check(unsafe { (self.libs.cc_store_cred)(self.raw, cache.raw, &mut creds.raw) })?;
        Ok(creds.raw.times)
    }
}

/// The remaining lifetime (seconds) of the initiator credentials in `ccache`, as GSSAPI sees
/// them: an error when there are none or they expired.
pub fn cache_lifetime(ccache: &str) -> Result<u32, KerberosError> {
    let libs = libraries()?;
    let cred = acquire(libs, ccache)?;
    let lifetime = cred.lifetime;
    drop(cred);
    Ok(lifetime)
}

struct Cred {
    libs: &'static Libraries,
    raw: GssCred,
    lifetime: u32,
}

impl Drop for Cred {
    fn drop(&mut self) {
        let mut minor = 0;
        // SAFETY: raw came from gss_acquire_cred_from.
        unsafe { (self.libs.gss_release_cred)(&mut minor, &mut self.raw) };
    }
}

fn acquire(libs: &'static Libraries, ccache: &str) -> Result<Cred, KerberosError> {
    let key = c"ccache";
    let value = cstring("ticket cache", ccache)?;
    let element = GssKeyValue { key: key.as_ptr(), value: value.as_ptr() };
    let store = GssKeyValueSet { count: 1, elements: &element };
    let mut minor = 0;
    let mut raw = ptr::null_mut();
    let mut lifetime = 0;
    // SAFETY: store and its strings outlive the call; raw is released by Cred's drop.
    let major = unsafe {
        (libs.gss_acquire_cred_from)(
            &mut minor,
            ptr::null_mut(),
            0,
            ptr::null(),
            GSS_C_INITIATE,
            &store,
            &mut raw,
            ptr::null_mut(),
            &mut lifetime,
        )
    };
    if major & GSS_ROUTINE_ERROR_MASK != 0 {
        return Err(gss_error(libs, major, minor, &format!("no usable ticket in {ccache}")));
    }
    Ok(Cred { libs, raw, lifetime })
}

/// One SPNEGO initial token (RFC 4559) for the service `target` (`HTTP/host@REALM`), made with
/// the tickets in `ccache`.
pub fn spnego_token(ccache: &str, target: &str) -> Result<Vec<u8>, KerberosError> {
    let libs = libraries()?;
    let cred = acquire(libs, ccache)?;
    let mut minor = 0;
    let name_type =
        GssOid { length: KRB5_NT_PRINCIPAL_NAME.len() as u32, elements: KRB5_NT_PRINCIPAL_NAME.as_ptr().cast() };
    let mut name_buf = GssBuffer { length: target.len(), value: target.as_ptr() as *mut c_void };
    let mut name = ptr::null_mut();
    // SAFETY: gss_import_name copies the buffer; name is released below.
    let major = unsafe { (libs.gss_import_name)(&mut minor, &mut name_buf, &name_type, &mut name) };
    if major & GSS_ROUTINE_ERROR_MASK != 0 {
        return Err(gss_error(libs, major, minor, &format!("{target} is not a service principal name")));
    }
    let mech = GssOid { length: SPNEGO_MECH.len() as u32, elements: SPNEGO_MECH.as_ptr().cast() };
    let mut ctx = ptr::null_mut();
    let mut out = GssBuffer { length: 0, value: ptr::null_mut() };
    // SAFETY: all pointers are valid for the call; out is released with gss_release_buffer,
    // ctx with gss_delete_sec_context.
    let major = unsafe {
        (libs.gss_init_sec_context)(
            &mut minor,
            cred.raw,
            &mut ctx,
            name,
            &mech,
            GSS_C_MUTUAL_FLAG,
            0,
            ptr::null(),
            ptr::null(),
            ptr::null_mut(),
            &mut out,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let token = if out.value.is_null() {
        Vec::new()
    } else {
        // SAFETY: out holds out.length bytes owned by GSSAPI until released.
        unsafe { std::slice::from_raw_parts(out.value as *const u8, out.length) }.to_vec()
    };
    let result = if major & GSS_ROUTINE_ERROR_MASK != 0 {
        Err(gss_error(libs, major, minor, &format!("no ticket for the service {target}")))
    } else if major & GSS_S_CONTINUE_NEEDED == 0 && token.is_empty() {
        Err(KerberosError::new(ErrorKind::Other, format!("GSSAPI made an empty token for {target}")))
    } else {
        Ok(token)
    };
    let mut m = 0;
    // SAFETY: each is released once; null handles are accepted.
    unsafe {
        (libs.gss_release_buffer)(&mut m, &mut out);
        (libs.gss_delete_sec_context)(&mut m, &mut ctx, ptr::null_mut());
        (libs.gss_release_name)(&mut m, &mut name);
    }
    result
}

/// A GSSAPI failure: the Kerberos code in `minor` classifies it; both statuses' texts explain it.
fn gss_error(libs: &Libraries, major: u32, minor: u32, what: &str) -> KerberosError {
    let mut text = display_status(libs, major, GSS_C_GSS_CODE);
    if minor != 0 {
        // GSS_C_MECH_CODE = 2: the mechanism's (Kerberos') own message for the minor status.
        let mech = display_status(libs, minor, 2);
        if !mech.is_empty() {
            text = format!("{text}: {mech}");
        }
    }
    KerberosError::from_code(minor as i32, format!("{what}: {text}"))
}

fn display_status(libs: &Libraries, status: u32, kind: c_int) -> String {
    let mut parts = Vec::new();
    let mut context = 0u32;
    loop {
        let mut minor = 0;
        let mut buf = GssBuffer { length: 0, value: ptr::null_mut() };
        // SAFETY: buf is released below; the loop ends when GSSAPI says it has no more text.
        let major = unsafe { (libs.gss_display_status)(&mut minor, status, kind, ptr::null(), &mut context, &mut buf) };
        if major & GSS_ROUTINE_ERROR_MASK != 0 {
            break;
        }
        if !buf.value.is_null() {
            let bytes = unsafe { std::slice::from_raw_parts(buf.value as *const u8, buf.length) };
            parts.push(String::from_utf8_lossy(bytes).into_owned());
            unsafe { (libs.gss_release_buffer)(&mut minor, &mut buf) };
        }
        if context == 0 || parts.len() > 8 {
            break;
        }
    }
    parts.join("; ")
}
