//! The scratch MIT KDC on its own: principals, keytabs, ticket lifetimes, stop and restart.

use std::process::Command;

use consort_rigs::Kdc;

fn klist(kdc: &Kdc, ccache: &str) -> String {
    let out =
        Command::new("klist").args(["-c", ccache]).env("KRB5_CONFIG", kdc.krb5_conf()).output().expect("klist runs");
    assert!(out.status.success(), "klist {ccache}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// "12/01/26 05:36:05" (klist's local time) as seconds since the day started; enough to compare
/// a ticket's start and end within one test.
fn seconds(stamp: &str) -> i64 {
    let time = stamp.split_whitespace().nth(1).unwrap();
    time.split(':').map(|p| p.parse::<i64>().unwrap()).fold(0, |acc, p| acc * 60 + p)
}

#[test]
fn principals_keytabs_lifetimes_and_restart() {
    let mut kdc = Kdc::start();
    assert_eq!(kdc.realm(), "CONSORT.TEST");
    let conf = std::fs::read_to_string(kdc.krb5_conf()).unwrap();
    assert!(conf.contains(&format!("127.0.0.1:{}", kdc.port())) && conf.contains("rdns = false"), "{conf}");

    kdc.add_principal("consort");
    kdc.add_principal_with_max_life("short", 120, 300);
    assert!(kdc.has_principal("short") && !kdc.has_principal("nobody"));
    let first = kdc.dir().join("first.keytab");
    kdc.export_keytab(&["consort"], &first);
    let both = kdc.dir().join("both.keytab");
    kdc.export_keytab(&["consort", "short"], &both);

    // A second export keeps the keys: the first keytab still logs in.
    let ccache = format!("FILE:{}", kdc.dir().join("consort.ccache").display());
    kdc.kinit("consort", &first, &ccache, Some(600));
    let tickets = klist(&kdc, &ccache);
    assert!(tickets.contains("Default principal: consort@CONSORT.TEST"), "{tickets}");
    assert!(tickets.contains("krbtgt/CONSORT.TEST@CONSORT.TEST"), "{tickets}");

    // The principal's max life caps the ticket: 120 s although kinit asks for the default 24 h.
    let short = format!("FILE:{}", kdc.dir().join("short.ccache").display());
    kdc.kinit("short", &both, &short, None);
    let tickets = klist(&kdc, &short);
    let line = tickets.lines().find(|l| l.contains("krbtgt/")).unwrap();
    let mut stamps = line.split("  ").map(str::trim).filter(|s| !s.is_empty());
    let (start, end) = (seconds(stamps.next().unwrap()), seconds(stamps.next().unwrap()));
    let life = (end - start).rem_euclid(24 * 3600);
    assert!((110..=120).contains(&life), "a 120 s ticket: {tickets}");

    // KDC down: kinit fails; back up on the same port: it works again.
    kdc.stop();
    let out = Command::new("kinit")
        .arg("-kt")
        .arg(&first)
        .args(["-c", &ccache, "consort"])
        .env("KRB5_CONFIG", kdc.krb5_conf())
        .output()
        .unwrap();
    assert!(!out.status.success(), "kinit with the KDC down");
    let port = kdc.port();
    kdc.restart();
    assert_eq!(kdc.port(), port);
    kdc.kinit("consort", &first, &ccache, None);
}
