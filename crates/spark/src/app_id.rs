//! Finding Spark's application id in a driver log.

/// The first Spark application id in `log`: `local-<ms>`, `app-<date>-<n>`
/// (standalone) or `application_<ts>_<n>` (YARN).
pub fn find_app_id(log: &str) -> Option<String> {
    for (prefix, pattern) in [
        ("local-", &[Part::Digits][..]),
        ("app-", &[Part::Digits, Part::Dash, Part::Digits][..]),
        ("application_", &[Part::Digits, Part::Underscore, Part::Digits][..]),
    ] {
        let mut from = 0;
        while let Some(at) = log[from..].find(prefix) {
            let start = from + at;
            let boundary =
                log[..start].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
            if boundary && let Some(len) = matches(&log[start + prefix.len()..], pattern) {
                return Some(log[start..start + prefix.len() + len].to_string());
            }
            from = start + prefix.len();
        }
    }
    None
}

/// The driver's web UI address in its log, once the UI listens: Spark 4 logs `Start Jetty
/// HOST:PORT for SparkUI` then `Successfully started service 'SparkUI' on port PORT` (the
/// port bound, which differs when the first was taken), Spark 3 `Bound SparkUI to ADDR, and
/// started at http://HOST:PORT` (the port is 4040, or the next free one). A wildcard bind address is shown as loopback.
pub fn find_ui_url(log: &str) -> Option<String> {
    let url = if let Some(at) = log.find("Start Jetty ") {
        let rest = &log[at + "Start Jetty ".len()..];
        let (address, tail) = rest.split_once(' ')?;
        if !tail.starts_with("for SparkUI") {
            return find_ui_url(rest);
        }
        // That line names the port tried first; when it is taken (another driver on the host)
        // Spark tries the next ones, and the port it bound is in this line, once it listens.
        const BOUND: &str = "Successfully started service 'SparkUI' on port ";
        let bound = &tail[tail.find(BOUND)? + BOUND.len()..];
        let port: String = bound.chars().take_while(char::is_ascii_digit).collect();
        let (host, _) = address.rsplit_once(':')?;
        format!("http://{host}:{port}")
    } else {
        const MARK: &str = "and started at ";
        let rest = &log[log.find("Bound SparkUI to")?..];
        let start = rest.find(MARK)? + MARK.len();
        rest[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect()
    };
    let url = url.trim_end_matches(['.', ',']).replace("://0.0.0.0:", "://127.0.0.1:");
    let port_ok = url.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    ((url.starts_with("http://") || url.starts_with("https://")) && port_ok).then_some(url)
}

#[derive(Clone, Copy)]
enum Part {
    Digits,
    Dash,
    Underscore,
}

fn matches(text: &str, pattern: &[Part]) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    for part in pattern {
        match part {
            Part::Digits => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i == start {
                    return None;
                }
            }
            Part::Dash | Part::Underscore => {
                let want = if matches!(part, Part::Dash) { b'-' } else { b'_' };
                if bytes.get(i) != Some(&want) {
                    return None;
                }
                i += 1;
            }
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_driver_ui_in_spark_3_and_4_logs() {
        let v4 = "26/12/01 16:08:19 INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI\n\
                  26/12/01 16:08:20 INFO Utils: Successfully started service 'SparkUI' on port 4040.\n";
        assert_eq!(find_ui_url(v4).as_deref(), Some("http://127.0.0.1:4040"));
        let other_jetty = "INFO JettyUtils: Start Jetty 0.0.0.0:8080 for MasterUI\n\
                           INFO JettyUtils: Start Jetty 0.0.0.0:4041 for SparkUI\n\
                           INFO Utils: Successfully started service 'SparkUI' on port 4041.\n";
        assert_eq!(find_ui_url(other_jetty).as_deref(), Some("http://127.0.0.1:4041"));
        // 4040 was taken by another driver: the port bound is the one to ask.
        let moved = "INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI\n\
                     WARN Utils: Service 'SparkUI' could not bind on port 4040. Attempting port 4041.\n\
                     INFO Utils: Successfully started service 'SparkUI' on port 4041.\n";
        assert_eq!(find_ui_url(moved).as_deref(), Some("http://127.0.0.1:4041"));
        // Not listening yet: no address.
        assert_eq!(find_ui_url("INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI\n"), None);
        let v3 = "25/01/01 10:00:00 INFO Utils: Successfully started service 'SparkUI' on port 4041.\n\
                  25/01/01 10:00:00 INFO SparkUI: Bound SparkUI to 127.0.0.1, and started at http://127.0.0.1:4041\n";
        assert_eq!(find_ui_url(v3).as_deref(), Some("http://127.0.0.1:4041"));
        let json = r#"{"msg":"Bound SparkUI to 0.0.0.0, and started at http://driver-svc:4040","logger":"SparkUI"}"#;
        assert_eq!(find_ui_url(json).as_deref(), Some("http://driver-svc:4040"));
        assert_eq!(find_ui_url("INFO JettyUtils: Start Jetty 127.0.0.1: for SparkUI"), None);
        assert_eq!(find_ui_url("INFO SparkContext: Running Spark version 3.5.1"), None);
        assert_eq!(find_ui_url("Bound SparkUI to 127.0.0.1, and started at nowhere"), None);
    }

    #[test]
    fn finds_each_backend_id_shape() {
        assert_eq!(find_app_id("INFO x: app id local-1732871234567 started").as_deref(), Some("local-1732871234567"));
        assert_eq!(find_app_id("Connected ... app-20261122164728-0003.").as_deref(), Some("app-20261122164728-0003"));
        assert_eq!(
            find_app_id("Submitted application application_1700000000000_0042").as_deref(),
            Some("application_1700000000000_0042")
        );
        assert_eq!(find_app_id("my-local-thing and app-x"), None);
    }
}
