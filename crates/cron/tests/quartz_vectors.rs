//! Every row of Quartz's own answers (`tests/data/quartz-cron-vectors.tsv`, kept in the
//! repository so a clone alone passes)
//! must be reproduced exactly: `ERR`, `NONE`, or the same five fire times.

use consort_cron::batch::answer;

fn vectors_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quartz-cron-vectors.tsv")
}

#[test]
fn every_vector_row_matches_quartz() {
    let text = std::fs::read_to_string(vectors_path()).expect("vector file");
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "malformed row {line:?}");
        let (expr, zone, start, expected) = (cols[0], cols[1], cols[2], cols[3]);
        let got = answer(expr, zone, start.parse().unwrap());
        if got != expected {
            failures.push(format!("{expr:?} {zone} {start}\n  want {expected}\n  got  {got}"));
        }
        rows += 1;
    }
    assert!(rows >= 400, "only {rows} rows read");
    assert!(failures.is_empty(), "{} of {rows} rows differ:\n{}", failures.len(), failures.join("\n"));
}
