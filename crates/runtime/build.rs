//! Embeds the governed runner (`runner/consort_runner/*.py` and its entry script) into the
//! binary, so the server ships exactly the code whose measurement it prepares policies for.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runner");
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
        out.push_str("/// The entry script spark-submit runs.\npub const ENTRY_SCRIPT: Option<&[u8]> = None;\n");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("runner_files.rs");
    std::fs::write(dest, out).unwrap();
}
