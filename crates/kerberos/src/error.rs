//! What went wrong with Kerberos, in the words an administrator needs: which setting is missing
//! or wrong, and how to fix it. The MIT error codes decide the kind; the library's own text is
//! kept as the detail.

use std::fmt;

/// The kinds of Kerberos failure consort tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The settings are inconsistent (e.g. a keytab without a principal).
    Config,
    /// The MIT Kerberos libraries are not installed.
    LibraryMissing,
    /// `krb5.conf` cannot be read or parsed, or names no default realm.
    Krb5Conf,
    /// The keytab file does not exist or cannot be read.
    NoKeytab,
    /// The keytab has no key for the principal.
    WrongPrincipal,
    /// The keytab's key is not the principal's current key (rotated, or another principal's).
    WrongKey,
    /// The KDC does not know the principal.
    UnknownPrincipal,
    /// The KDC does not know the service (`HTTP/host`, `hdfs/host`): a wrong host name or pattern.
    UnknownService,
    /// Clocks differ by more than the allowed skew.
    ClockSkew,
    /// No ticket in the cache.
    NoTicket,
    /// The ticket expired (and could not be renewed).
    TicketExpired,
    /// No KDC of the realm answered.
    KdcUnreachable,
    /// Anything else.
    Other,
}

/// MIT Kerberos error codes (krb5.h) that decide the kind.
mod code {
    pub const C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
    pub const S_PRINCIPAL_UNKNOWN: i32 = -1765328377;
    pub const PREAUTH_FAILED: i32 = -1765328360;
    pub const BAD_INTEGRITY: i32 = -1765328353;
    pub const TKT_EXPIRED: i32 = -1765328352;
    pub const SKEW: i32 = -1765328347;
    pub const KDCREP_SKEW: i32 = -1765328236;
    pub const CONFIG_CANTOPEN: i32 = -1765328249;
    pub const CONFIG_BADFORMAT: i32 = -1765328248;
    pub const CONFIG_NODEFREALM: i32 = -1765328160;
    pub const CC_NOTFOUND: i32 = -1765328243;
    pub const CC_END: i32 = -1765328242;
    pub const NO_TKT_SUPPLIED: i32 = -1765328241;
    pub const FCC_NOFILE: i32 = -1765328189;
    pub const REALM_UNKNOWN: i32 = -1765328230;
    pub const KDC_UNREACH: i32 = -1765328228;
    pub const REALM_CANT_RESOLVE: i32 = -1765328164;
    pub const KT_NOTFOUND: i32 = -1765328203;
    pub const KT_END: i32 = -1765328202;
    pub const KT_FORMAT: i32 = -1765328149;
    pub const ENOENT: i32 = 2;
    pub const EACCES: i32 = 13;
}

impl ErrorKind {
    /// The kind of a Kerberos error code (a GSSAPI minor status carries the same codes).
    pub fn from_code(code: i32) -> ErrorKind {
        use code::*;
        match code {
            C_PRINCIPAL_UNKNOWN => ErrorKind::UnknownPrincipal,
            S_PRINCIPAL_UNKNOWN => ErrorKind::UnknownService,
            PREAUTH_FAILED | BAD_INTEGRITY => ErrorKind::WrongKey,
            TKT_EXPIRED => ErrorKind::TicketExpired,
            SKEW | KDCREP_SKEW => ErrorKind::ClockSkew,
            CONFIG_CANTOPEN | CONFIG_BADFORMAT | CONFIG_NODEFREALM => ErrorKind::Krb5Conf,
            CC_NOTFOUND | CC_END | NO_TKT_SUPPLIED | FCC_NOFILE => ErrorKind::NoTicket,
            REALM_UNKNOWN | KDC_UNREACH | REALM_CANT_RESOLVE => ErrorKind::KdcUnreachable,
            KT_NOTFOUND | KT_END => ErrorKind::WrongPrincipal,
            KT_FORMAT | ENOENT | EACCES => ErrorKind::NoKeytab,
            _ => ErrorKind::Other,
        }
    }

    /// The kind named by MIT's own message, for errors whose code is lost on the way (GSSAPI's
    /// mechanism glue renumbers the Kerberos minor statuses).
    pub fn from_message(text: &str) -> ErrorKind {
        let t = text.to_ascii_lowercase();
        let has = |s: &str| t.contains(s);
        if has("clock skew") {
            ErrorKind::ClockSkew
        } else if has("cannot contact any kdc")
            || has("cannot find kdc")
            || has("cannot resolve network address for kdc")
        {
            ErrorKind::KdcUnreachable
        } else if has("server") && has("not found in kerberos database") {
            ErrorKind::UnknownService
        } else if has("not found in kerberos database") {
            ErrorKind::UnknownPrincipal
        } else if has("preauthentication failed") || has("integrity check failed") || has("password incorrect") {
            ErrorKind::WrongKey
        } else if has("ticket expired") || has("credentials have expired") {
            ErrorKind::TicketExpired
        } else if has("no credentials cache found")
            || has("no kerberos credentials available")
            || has("no credentials were supplied")
        {
            ErrorKind::NoTicket
        } else if has("keytab contains no suitable keys") || has("no key table entry found") {
            ErrorKind::WrongPrincipal
        } else if has("key table file") && has("not found") {
            ErrorKind::NoKeytab
        } else {
            ErrorKind::Other
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            ErrorKind::Config => "check the [kerberos] settings (see docs/kerberos.md)",
            ErrorKind::LibraryMissing => {
                "install MIT Kerberos (Debian: apt-get install libkrb5-3 libgssapi-krb5-2; RHEL: yum install krb5-libs)"
            }
            ErrorKind::Krb5Conf => {
                "set kerberos.krb5_conf to a readable krb5.conf whose [libdefaults] names default_realm"
            }
            ErrorKind::NoKeytab => "check kerberos.keytab: the file must exist and be readable by consort's user",
            ErrorKind::WrongPrincipal => {
                "the keytab holds no key for kerberos.principal; list it with `klist -kt KEYTAB` and use a principal it holds"
            }
            ErrorKind::WrongKey => {
                "the keytab's key does not match the KDC's (a rotated password or another principal's keytab); export a fresh keytab"
            }
            ErrorKind::UnknownPrincipal => {
                "the KDC has no such principal; check the spelling and the realm of kerberos.principal"
            }
            ErrorKind::UnknownService => {
                "the KDC has no such service principal; check kerberos.hdfs_principal/http_principal and that hosts are addressed by the names in their principals"
            }
            ErrorKind::ClockSkew => {
                "this host's clock differs from the KDC's by more than 5 minutes; synchronise it (NTP)"
            }
            ErrorKind::NoTicket => {
                "there is no ticket: run `kinit PRINCIPAL` for the cache in kerberos.ticket_cache, or configure kerberos.keytab"
            }
            ErrorKind::TicketExpired => {
                "the ticket expired: run `kinit` again (or `kinit -R` while renewable), or configure kerberos.keytab so consort logs in by itself"
            }
            ErrorKind::KdcUnreachable => {
                "no KDC answered: check the realm's kdc entries in krb5.conf, the network and that the KDC is running"
            }
            ErrorKind::Other => "see docs/kerberos.md",
        }
    }
}

/// A Kerberos failure: its kind, the library's explanation, and (in `Display`) the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct KerberosError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, with the library's own text.
    pub detail: String,
}

impl KerberosError {
    /// A failure of `kind` described by `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> KerberosError {
        KerberosError { kind, detail: detail.into() }
    }

    /// A failure with a Kerberos error code.
    /// A failure with a Kerberos error code; when the code says nothing, the message decides.
    pub fn from_code(code: i32, detail: String) -> KerberosError {
        let kind = match ErrorKind::from_code(code) {
            ErrorKind::Other => ErrorKind::from_message(&detail),
            kind => kind,
        };
        KerberosError::new(kind, detail)
    }
}

impl fmt::Display for KerberosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kerberos: {}; {}", self.detail, self.kind.fix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_the_setting_to_fix() {
        assert_eq!(ErrorKind::from_code(code::C_PRINCIPAL_UNKNOWN), ErrorKind::UnknownPrincipal);
        assert_eq!(ErrorKind::from_code(code::PREAUTH_FAILED), ErrorKind::WrongKey);
        assert_eq!(ErrorKind::from_code(code::KDC_UNREACH), ErrorKind::KdcUnreachable);
        assert_eq!(ErrorKind::from_code(code::SKEW), ErrorKind::ClockSkew);
        assert_eq!(ErrorKind::from_code(code::FCC_NOFILE), ErrorKind::NoTicket);
        assert_eq!(ErrorKind::from_code(code::KT_NOTFOUND), ErrorKind::WrongPrincipal);
        assert_eq!(ErrorKind::from_code(12345), ErrorKind::Other);
        // GSSAPI renumbers minor codes: MIT's message decides then.
        let e = KerberosError::from_code(
            100001,
            "Unspecified GSS failure: Server HTTP/nn1@R not found in Kerberos database".into(),
        );
        assert_eq!(e.kind, ErrorKind::UnknownService);
        let e = KerberosError::from_code(7, "Cannot contact any KDC for realm 'R'".into());
        assert_eq!(e.kind, ErrorKind::KdcUnreachable);
        let e = KerberosError::from_code(code::SKEW, "clock skew too great".into());
        let text = e.to_string();
        assert!(text.contains("clock skew too great") && text.contains("NTP"), "{text}");
    }
}
