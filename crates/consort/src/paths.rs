//! Per-user default locations (XDG base directories), read from the environment.

use std::path::PathBuf;

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `$XDG_DATA_HOME/consort`, else `~/.local/share/consort`, else `./consort-data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".local/share")))
        .map(|d| d.join("consort"))
        .unwrap_or_else(|| PathBuf::from("consort-data"))
}

/// `$XDG_CONFIG_HOME/consort/consort.toml`, else `~/.config/consort/consort.toml`.
pub fn default_config_file() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))
        .map(|d| d.join("consort/consort.toml"))
}
