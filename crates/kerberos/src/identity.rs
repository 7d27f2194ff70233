//! One Kerberos identity per process and settings: logged in once, renewed before its ticket
//! expires by a background thread, and shared by every client (HDFS RPC reads its ticket
//! cache; HTTP clients ask it for SPNEGO headers).

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::error::{ErrorKind, KerberosError};
use crate::ffi::{self, Context, TicketTimes};
use crate::settings::{Credentials, KerberosSettings, host_of, service_principal};

/// The process's Kerberos identity for one set of settings.
#[derive(Debug)]
pub struct Identity {
    principal: String,
    ccache: String,
    keytab: Option<String>,
    http_principal: String,
    hdfs_principal: String,
    renew_at_percent: u8,
    ticket: Mutex<Ticket>,
    /// NameNode hosts whose principal the KDC is known to have (checked once per process).
    known_namenodes: Mutex<Vec<String>>,
}

/// When the current ticket-granting ticket was got and when it ends.
#[derive(Clone, Copy, Debug)]
struct Ticket {
    obtained: SystemTime,
    ends: SystemTime,
    renew_till: Option<SystemTime>,
}

impl Ticket {
    fn from_times(times: TicketTimes) -> Ticket {
        let at = |t: i32| UNIX_EPOCH + Duration::from_secs(u64::from(t as u32));
        let start = if times.starttime != 0 { times.starttime } else { times.authtime };
        Ticket {
            obtained: at(start),
            ends: at(times.endtime),
            renew_till: (times.renew_till != 0).then(|| at(times.renew_till)),
        }
    }

    /// When to renew: `percent` of the way through the ticket's life.
    fn due(&self, percent: u8) -> SystemTime {
        let life = self.ends.duration_since(self.obtained).unwrap_or_default();
        self.obtained + life * u32::from(percent) / 100
    }
}

/// Sets `KRB5_CONFIG` for this process and the programs it starts. Call it first thing, before
/// any thread starts (the environment is process-wide); the binary does so from its settings.
pub fn use_krb5_conf(path: &Path) {
    if std::env::var_os("KRB5_CONFIG").as_deref() != Some(path.as_os_str()) {
        // SAFETY: documented to run before other threads exist, so nothing reads the
        // environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("KRB5_CONFIG", path)
        };
    }
}

impl Identity {
    /// The identity for `settings`: logged in on first use, then shared by every caller in the
    /// process and renewed in the background.
    pub fn login(settings: &KerberosSettings) -> Result<Arc<Identity>, KerberosError> {
        static REGISTRY: Mutex<Vec<(KerberosSettings, Arc<Identity>)>> = Mutex::new(Vec::new());
        let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, id)) = registry.iter().find(|(s, _)| s == settings) {
            return Ok(id.clone());
        }
        let id = Arc::new(Identity::new(settings)?);
        spawn_renewer(Arc::downgrade(&id));
        registry.push((settings.clone(), id.clone()));
        Ok(id)
    }

    fn new(settings: &KerberosSettings) -> Result<Identity, KerberosError> {
        let credentials = settings.credentials()?;
        if let Some(conf) = &settings.krb5_conf {
            if !conf.is_file() {
                return Err(KerberosError::new(
                    ErrorKind::Krb5Conf,
                    format!("kerberos.krb5_conf {} does not exist", conf.display()),
                ));
            }
            if std::env::var_os("KRB5_CONFIG").as_deref() != Some(conf.as_os_str()) {
                return Err(KerberosError::new(
                    ErrorKind::Config,
                    format!(
                        "kerberos.krb5_conf is {} but this process reads {:?}: call consort_kerberos::use_krb5_conf at start-up",
                        conf.display(),
                        std::env::var_os("KRB5_CONFIG").unwrap_or_default()
                    ),
                ));
            }
        }
        let ctx = Context::new()?;
        let (principal, ccache, keytab, ticket) = match credentials {
            Credentials::Keytab { principal, keytab } => {
                if !keytab.is_file() {
                    return Err(KerberosError::new(
                        ErrorKind::NoKeytab,
                        format!("kerberos.keytab {} does not exist", keytab.display()),
                    ));
                }
                let keytab = format!("FILE:{}", keytab.display());
                // A cache of our own in memory: nothing on disk to leak or to clash with.
                let ccache = format!("MEMORY:consort-{}-{}", std::process::id(), next_cache_number());
                let (times, principal) = ctx.login_with_keytab(&principal, &keytab, &ccache).map_err(|e| {
                    KerberosError::new(e.kind, format!("logging in as {principal} with {keytab}: {}", e.detail))
                })?;
                (principal, ccache, Some(keytab), Ticket::from_times(times))
            }
            Credentials::TicketCache { cache, principal } => {
                let ccache = cache.unwrap_or_else(default_cache);
                let held = ctx.cache_principal(&ccache).map_err(|e| {
                    KerberosError::new(ErrorKind::NoTicket, format!("no ticket in {ccache}: {}", e.detail))
                })?;
                if let Some(want) = principal.filter(|p| !same_principal(p, &held)) {
                    return Err(KerberosError::new(
                        ErrorKind::Config,
                        format!(
                            "the ticket cache {ccache} holds {held}, but kerberos.principal is {want}: kinit as {want} or fix the setting"
                        ),
                    ));
                }
                let lifetime = ffi::cache_lifetime(&ccache).map_err(|e| expired_or(e, &ccache))?;
                let now = SystemTime::now();
                let ticket =
                    Ticket { obtained: now, ends: now + Duration::from_secs(u64::from(lifetime)), renew_till: None };
                (held, ccache, None, ticket)
            }
        };
        let id = Identity {
            principal,
            ccache,
            keytab,
            http_principal: settings.http_principal.clone(),
            hdfs_principal: settings.hdfs_principal.clone(),
            renew_at_percent: settings.renew_at_percent,
            ticket: Mutex::new(ticket),
            known_namenodes: Mutex::new(Vec::new()),
        };
        if ticket.ends <= SystemTime::now() {
            // An expired cached ticket: renewable tickets can still be renewed, others cannot.
            id.refresh().map_err(|e| {
                KerberosError::new(
                    ErrorKind::TicketExpired,
                    format!("the ticket in {} expired: {}", id.ccache, e.detail),
                )
            })?;
        }
        tracing::info!(principal = %id.principal, ccache = %id.ccache, expires_in_s = secs_until(id.ticket().ends), "Kerberos identity ready");
        Ok(id)
    }

    /// The principal, as the KDC spells it.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The ticket cache holding this identity's tickets (`MEMORY:` when logged in from a
    /// keytab, so only this process can use it).
    pub fn ccache(&self) -> &str {
        &self.ccache
    }

    /// The keytab file, when logged in from one (child programs such as spark-submit log in
    /// with it themselves).
    pub fn keytab_file(&self) -> Option<&str> {
        self.keytab.as_deref().and_then(|k| k.strip_prefix("FILE:"))
    }

    /// Checks that the KDC knows the NameNode at `host` as `hdfs_principal` says (getting its
    /// service ticket, which the RPC connection then reuses), so a wrong host name, realm or
    /// pattern is reported as that instead of as a failed SASL handshake.
    pub fn check_hdfs_service(&self, host: &str) -> Result<(), KerberosError> {
        if self.knows_namenode(host) {
            return Ok(());
        }
        let service = service_principal(&self.hdfs_principal, host);
        ffi::spnego_token(&self.ccache, &service).map_err(|e| {
            let detail = format!("the NameNode's principal {service} (kerberos.hdfs_principal): {}", e.detail);
            KerberosError::new(e.kind, detail)
        })?;
        self.known_namenodes.lock().unwrap_or_else(|p| p.into_inner()).push(host.to_owned());
        Ok(())
    }

    /// Whether [`Identity::check_hdfs_service`] already succeeded for `host`.
    pub fn knows_namenode(&self, host: &str) -> bool {
        self.known_namenodes.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|h| h == host)
    }

    /// When the current ticket expires.
    pub fn expires_at(&self) -> SystemTime {
        self.ticket().ends
    }

    fn ticket(&self) -> Ticket {
        *self.ticket.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An `Authorization` header value (`Negotiate …`) for a request to `url` (or `host:port`),
    /// for the service `http_principal` with `_HOST` = the URL's host.
    pub fn negotiate(&self, url: &str) -> Result<String, KerberosError> {
        if SystemTime::now() >= self.ticket().ends {
            // The renewer could not keep up (the KDC was down): one more try before failing.
            self.refresh()?;
        }
        let service = service_principal(&self.http_principal, host_of(url));
        let token = ffi::spnego_token(&self.ccache, &service).map_err(|e| {
            KerberosError::new(e.kind, format!("{} (kerberos.http_principal is {})", e.detail, self.http_principal))
        })?;
        Ok(format!("Negotiate {}", base64::engine::general_purpose::STANDARD.encode(token)))
    }

    /// Gets a fresh ticket now: logs in again from the keytab, or renews the cached ticket.
    pub fn refresh(&self) -> Result<(), KerberosError> {
        let ctx = Context::new()?;
        let ticket = match &self.keytab {
            Some(keytab) => Ticket::from_times(ctx.login_with_keytab(&self.principal, keytab, &self.ccache)?.0),
            None => {
                let current = self.ticket();
                match ctx.renew(&self.ccache, current.ends) {
                    Ok(times) => Ticket::from_times(times),
                    Err(e) => {
                        // Not renewable, but someone may have run kinit since: adopt the new ticket.
                        let now = SystemTime::now();
                        let fresh = ffi::cache_lifetime(&self.ccache)
                            .ok()
                            .map(|secs| now + Duration::from_secs(u64::from(secs)))
                            .filter(|ends| *ends > current.ends && *ends > now);
                        match fresh {
                            Some(ends) => Ticket { obtained: now, ends, renew_till: None },
                            None => {
                                let detail = format!(
                                    "the ticket in {} (expires {}s from now) cannot be renewed: {}",
                                    self.ccache,
                                    secs_until(current.ends),
                                    e.detail
                                );
                                let kind = if now >= current.ends { ErrorKind::TicketExpired } else { e.kind };
                                return Err(KerberosError::new(kind, detail));
                            }
                        }
                    }
                }
            }
        };
        *self.ticket.lock().unwrap_or_else(|p| p.into_inner()) = ticket;
        tracing::info!(principal = %self.principal, expires_in_s = secs_until(ticket.ends), "Kerberos ticket renewed");
        Ok(())
    }
}

/// Renews the identity's ticket at `renew_at_percent` of its life, retrying on failure (the
/// KDC may be briefly down) until it succeeds or the identity is dropped.
fn spawn_renewer(id: Weak<Identity>) {
    let spawned = std::thread::Builder::new().name("kerberos-renew".into()).spawn(move || {
        let mut retry: Option<Duration> = None;
        loop {
            let wait = {
                let Some(id) = id.upgrade() else { return };
                let ticket = id.ticket();
                match retry {
                    Some(r) => r,
                    None => ticket.due(id.renew_at_percent).duration_since(SystemTime::now()).unwrap_or_default(),
                }
            };
            // Sleep in short steps so a dropped identity ends the thread soon.
            let until = std::time::Instant::now() + wait;
            while std::time::Instant::now() < until {
                std::thread::sleep((until - std::time::Instant::now()).min(Duration::from_secs(5)));
                if id.strong_count() == 0 {
                    return;
                }
            }
            let Some(id) = id.upgrade() else { return };
            match id.refresh() {
                Ok(()) => retry = None,
                Err(e) => {
                    let ticket = id.ticket();
                    let left = ticket.ends.duration_since(SystemTime::now()).unwrap_or_default();
                    let non_renewable = id.keytab.is_none() && ticket.renew_till.is_none_or(|t| t <= SystemTime::now());
                    tracing::warn!(principal = %id.principal, error = %e, expires_in_s = left.as_secs(), "Kerberos ticket not renewed");
                    retry = Some(if non_renewable && left.is_zero() {
                        // Nothing to retry until someone runs kinit: look again now and then.
                        Duration::from_secs(60)
                    } else {
                        (left / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
                    });
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the Kerberos renewal thread; tickets are renewed on use");
    }
}

fn expired_or(e: KerberosError, ccache: &str) -> KerberosError {
    let kind = if e.kind == ErrorKind::Other { ErrorKind::TicketExpired } else { e.kind };
    KerberosError::new(kind, format!("the ticket in {ccache} is not usable: {}", e.detail))
}

fn same_principal(configured: &str, held: &str) -> bool {
    configured == held || held.split('@').next() == Some(configured)
}

fn next_cache_number() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// MIT's default cache when `KRB5CCNAME` is unset: `FILE:/tmp/krb5cc_UID`.
fn default_cache() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Uid:").and_then(|v| v.split_whitespace().next().map(str::to_owned)))
        })
        .unwrap_or_else(|| "0".to_owned());
    format!("FILE:/tmp/krb5cc_{uid}")
}

fn secs_until(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::now()) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}
