//! Opening every area's store on the configured database.

use std::path::Path;

use anyhow::Context;
use consort_config::{Config, redact_url};
use consort_store::Stores;

/// The configured store URL: `scheduler.store_url`, else SQLite in the data directory.
pub fn store_url(config: &Config, data_dir: &Path) -> String {
    config.scheduler.store_url.clone().unwrap_or_else(|| format!("sqlite://{}", data_dir.join("consort.db").display()))
}

/// Opens every area's store on the configured database, applying migrations; also returns
/// its URL without the password, for messages.
pub async fn open_stores(config: &Config, data_dir: &Path) -> anyhow::Result<(Stores, String)> {
    let url = store_url(config, data_dir);
    let shown = redact_url(&url);
    let stores = consort_store::open_all_with(&url, config.scheduler.store_connections)
        .await
        .with_context(|| format!("opening the store {shown}; check scheduler.store_url (CONSORT_STORE_URL)"))?;
    Ok((stores, shown))
}
