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

/// The driver's web UI address in its log: Spark logs `Bound SparkUI to ADDR, and started at
/// http://HOST:PORT` once the UI listens (the port is 4040, or the next free one).
pub fn find_ui_url(log: &str) -> Option<String> {
    const MARK: &str = "and started at ";
    let at = log.find("Bound SparkUI to")?;
    let rest = &log[at..];
    let start = rest.find(MARK)? + MARK.len();
    let url: String = rest[start..].chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
    let url = url.trim_end_matches(['.', ',']);
    (url.starts_with("http://") || url.starts_with("https://")).then(|| url.to_string())
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
        let v3 = "25/01/01 10:00:00 INFO Utils: Successfully started service 'SparkUI' on port 4041.\n\
                  25/01/01 10:00:00 INFO SparkUI: Bound SparkUI to 127.0.0.1, and started at http://127.0.0.1:4041\n";
        assert_eq!(find_ui_url(v3).as_deref(), Some("http://127.0.0.1:4041"));
        let json = r#"{"msg":"Bound SparkUI to 0.0.0.0, and started at http://driver-svc:4040","logger":"SparkUI"}"#;
        assert_eq!(find_ui_url(json).as_deref(), Some("http://driver-svc:4040"));
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
