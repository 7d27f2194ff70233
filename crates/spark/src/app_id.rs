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
