//! The Spark that consort's own set-up scripts install (`scripts/setup.d/40-spark.sh`):
//! the default `SPARK_HOME` on a development machine, and what the tests run on.

use std::path::PathBuf;

/// Where the scripts install tools: `$CONSORT_CACHE`, else `~/.cache/consort`.
pub fn tool_cache() -> Option<PathBuf> {
    std::env::var_os("CONSORT_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/consort")))
}

/// A pyspark package installed in a venv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledSpark {
    /// The package directory, usable as `SPARK_HOME`.
    pub spark_home: PathBuf,
    /// The venv's python, which can `import pyspark`.
    pub python: PathBuf,
}

/// The pyspark in `<tool cache>/venvs/spark`, if it is there.
pub fn installed_pyspark() -> Option<InstalledSpark> {
    let venv = tool_cache()?.join("venvs/spark");
    let lib = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))?;
    let spark_home = lib.path().join("site-packages/pyspark");
    spark_home
        .join("bin/spark-submit")
        .is_file()
        .then(|| InstalledSpark { spark_home, python: venv.join("bin/python") })
}
