//! Embeds the governed runner (`runner/consort_runner/*.py` and its entry script) into the
//! binary, so the server ships exactly the code whose measurement it prepares policies for.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read when the script runs, not when it was compiled: a compiled build script can be
    // reused for a checkout at another path, and `env!` would point it at the old one.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).join("../../runner");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    let package = root.join("consort_runner");
    if let Ok(entries) = std::fs::read_dir(&package) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "py") {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                files.push((format!("consort_runner/{name}"), path));
            }
        }
    }
    files.sort();
    let mut out = String::from("/// The runner package's files: (path relative to the package's parent, content).\n");
    out.push_str("pub const PACKAGE_FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.canonicalize().unwrap().display().to_string())
            .unwrap();
    }
    out.push_str("];\n");
    let entry = root.join("consort_runner_main.py");
    if entry.exists() {
        writeln!(
            out,
            "/// The entry script spark-submit runs.\npub const ENTRY_SCRIPT: Option<&[u8]> = Some(include_bytes!({:?}));",
            entry.canonicalize().unwrap().display().to_string()
        )
        .unwrap();
    } else {
        println!(
            "cargo:warning=no governed runner at {}: this consort will not run clean-room queries",
            root.display()
        );
        out.push_str("/// The entry script spark-submit runs.\npub const ENTRY_SCRIPT: Option<&[u8]> = None;\n");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("runner_files.rs");
    std::fs::write(dest, out).unwrap();
}
