//! Any text must parse or be rejected without a panic, and any accepted
//! expression must evaluate without a panic, in several zones, from any start,
//! with fire times strictly after the start.
#![no_main]

use consort_cron::{Cron, Zone};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const ZONES: [&str; 5] = ["UTC", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "America/Sao_Paulo"];

fn zones() -> &'static [Zone] {
    static ZONES_BUILT: OnceLock<Vec<Zone>> = OnceLock::new();
    ZONES_BUILT.get_or_init(|| ZONES.iter().map(|z| Zone::get(z).expect("bundled zone")).collect())
}

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the start time, the rest is the expression.
    let (start, text) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (i64::from_le_bytes(*head), rest),
        None => (0, data),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let Ok(cron) = Cron::parse(text) else { return };
    let _ = cron.explain();
    // Half of the inputs start in 1900..2300, where the fire times are.
    let start = if start & 1 == 0 { start.rem_euclid(12_622_780_800) - 2_208_988_800 } else { start };
    for zone in zones() {
        let mut t = start;
        for _ in 0..3 {
            match cron.next_after_epoch(t, zone) {
                Some(next) => {
                    assert!(next > t, "{text:?} in {}: {next} is not after {t}", zone.name());
                    t = next;
                }
                None => break,
            }
        }
    }
});
