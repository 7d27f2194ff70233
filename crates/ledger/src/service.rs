//! The ledger service (async, tokio): group-committed appends, the root signer, receipts,
//! exports and consistency proofs over any [`LedgerStore`].
//!
//! Per clean room (created on first use) there are two tasks:
//!
//! - the **writer**: callers of [`Ledger::append`] queue their draft; the writer takes
//!   everything queued (up to [`LedgerConfig::max_batch`]) and appends it with one
//!   [`LedgerStore::append`] call (one transaction). Each caller's future resolves only after
//!   that call returned, i.e. once its entry is durable.
//! - the **signer**: keeps the clean room's tree in memory (rebuilt from
//!   [`LedgerStore::leaf_hashes`] on first use, then extended by the writer, or from the store
//!   when other writers, other instances or governance commits appended), and signs a root
//!   every [`LedgerConfig::root_every_entries`] entries (every multiple is signed, so no two
//!   consecutive roots are further apart) and every [`LedgerConfig::root_every`] when anything
//!   is new. Several instances may sign one clean room: a root of a size has one hash whoever
//!   computes it, and `put_root` keeps the first.
//!
//! [`Ledger::receipt`] for an entry no root covers yet signs one at once (it does not wait for
//! the interval), so a receipt is always available for an appended entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use consort_scheduler::StoreError;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::export::write_export;
use crate::receipt::Receipt;
use crate::signing::{ServiceKey, parse_hash};
use crate::tree::{ProofError, Tree};
use crate::{Entry, EntryDraft, Hash, LedgerStore, SignedRoot, canonical_json};

/// Gives the service key of a clean room (the governance crate keeps them sealed in its store).
pub trait KeyProvider: Send + Sync + 'static {
    /// The clean room's service key, or why there is none.
    fn key(&self, cleanroom: &str) -> Result<Arc<ServiceKey>, String>;
}

impl<F> KeyProvider for F
where
    F: Fn(&str) -> Result<Arc<ServiceKey>, String> + Send + Sync + 'static,
{
    fn key(&self, cleanroom: &str) -> Result<Arc<ServiceKey>, String> {
        self(cleanroom)
    }
}

/// How the service batches and signs.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// Sign a root at least every this many entries (default 1000).
    pub root_every_entries: u64,
    /// Sign a root this often when there are new entries (default 100 ms).
    pub root_every: Duration,
    /// At most this many drafts per store append (default 4096).
    pub max_batch: usize,
    /// Milliseconds since the epoch, for the roots' `at_ms`.
    pub clock: fn() -> i64,
}

fn system_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self { root_every_entries: 1000, root_every: Duration::from_millis(100), max_batch: 4096, clock: system_ms }
    }
}

/// What went wrong in the ledger service.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error("ledger store, {context}: {source}")]
    Store {
        /// What the service was doing.
        context: &'static str,
        /// The store's error.
        source: Arc<StoreError>,
    },
    /// No service key for the clean room.
    #[error("no service key for clean room {cleanroom:?}: {message}")]
    Key {
        /// The clean room.
        cleanroom: String,
        /// Why.
        message: String,
    },
    /// The entry's body is not canonical JSON.
    #[error(
        "entry body for clean room {cleanroom:?} ({kind}) is not canonical JSON (keys sorted, no spaces): build it with consort_ledger::canonical_json"
    )]
    NotCanonical {
        /// The clean room.
        cleanroom: String,
        /// The entry kind.
        kind: String,
    },
    /// No such entry.
    #[error("clean room {cleanroom:?} has no entry {seq}: its ledger holds {size} entries (0..{size})")]
    NoSuchEntry {
        /// The clean room.
        cleanroom: String,
        /// The entry asked for.
        seq: u64,
        /// Its ledger's size.
        size: u64,
    },
    /// A proof of sizes the ledger does not have.
    #[error("clean room {cleanroom:?}: {source}")]
    Proof {
        /// The clean room.
        cleanroom: String,
        /// What is wrong.
        source: ProofError,
    },
    /// The store disagrees with itself or with a signed root.
    #[error(
        "clean room {cleanroom:?}'s stored ledger is inconsistent: {message}; export it and run `consort ledger verify` to locate the damage"
    )]
    Corrupt {
        /// The clean room.
        cleanroom: String,
        /// What disagrees.
        message: String,
    },
    /// The service is shutting down.
    #[error("the ledger service stopped before the entry was appended: retry")]
    Stopped,
}

fn store_err(context: &'static str) -> impl FnOnce(StoreError) -> LedgerError {
    move |e| LedgerError::Store { context, source: Arc::new(e) }
}

/// How many hashes/entries the service reads from the store per call.
const CHUNK: u64 = 65_536;

struct Shared {
    store: Arc<dyn LedgerStore>,
    keys: Box<dyn KeyProvider>,
    config: LedgerConfig,
}

type Pending = (EntryDraft, oneshot::Sender<Result<Entry, LedgerError>>);

struct Room {
    name: String,
    queue: mpsc::Sender<Pending>,
    state: Mutex<RoomState>,
    /// Highest size the writer knows of.
    appended: AtomicU64,
    /// Highest size signed by this instance (or found signed).
    signed: AtomicU64,
    wake_signer: Notify,
}

#[derive(Default)]
struct RoomState {
    loaded: bool,
    tree: Tree,
}

/// The ledger service. Cheap to clone; tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
    rooms: Arc<std::sync::Mutex<HashMap<String, Arc<Room>>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("store", &self.shared.store).field("config", &self.shared.config).finish()
    }
}

impl Ledger {
    /// A service over `store`, signing with the keys `keys` gives (a closure
    /// `|cleanroom: &str| -> Result<Arc<ServiceKey>, String>` will do).
    pub fn new(store: Arc<dyn LedgerStore>, keys: impl KeyProvider, config: LedgerConfig) -> Self {
        Ledger { shared: Arc::new(Shared { store, keys: Box::new(keys), config }), rooms: Arc::default() }
    }

    fn room(&self, cleanroom: &str) -> Arc<Room> {
        let mut rooms = self.rooms.lock().expect("not poisoned");
        if let Some(r) = rooms.get(cleanroom) {
            return r.clone();
        }
        let (tx, rx) = mpsc::channel(self.shared.config.max_batch.max(1) * 16);
        let room = Arc::new(Room {
            name: cleanroom.to_owned(),
            queue: tx,
            state: Mutex::new(RoomState::default()),
            appended: AtomicU64::new(0),
            signed: AtomicU64::new(0),
            wake_signer: Notify::new(),
        });
        rooms.insert(cleanroom.to_owned(), room.clone());
        tokio::spawn(writer(self.shared.clone(), Arc::downgrade(&room), cleanroom.to_owned(), rx));
        tokio::spawn(signer(self.shared.clone(), Arc::downgrade(&room)));
        room
    }

    /// Appends an entry; resolves once it is durable (group-committed with concurrent appends).
    pub async fn append(&self, cleanroom: &str, draft: EntryDraft) -> Result<Entry, LedgerError> {
        let canonical = serde_json::from_str::<serde_json::Value>(&draft.body).map(|v| canonical_json(&v));
        if canonical.as_deref().ok() != Some(draft.body.as_str()) {
            return Err(LedgerError::NotCanonical { cleanroom: cleanroom.to_owned(), kind: draft.kind });
        }
        let room = self.room(cleanroom);
        let (tx, rx) = oneshot::channel();
        room.queue.send((draft, tx)).await.map_err(|_| LedgerError::Stopped)?;
        drop(room);
        rx.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Signs the clean room's current root now if it has entries no root covers (and the
    /// missing every-N roots before it); returns the latest root this instance signed or found.
    pub async fn sign_now(&self, cleanroom: &str) -> Result<Option<SignedRoot>, LedgerError> {
        let room = self.room(cleanroom);
        sign_due(&self.shared, &room).await?;
        self.shared.store.latest_root(cleanroom).await.map_err(store_err("reading the latest root"))
    }

    /// A receipt for entry `seq`: the entry, its inclusion proof and the first signed root that
    /// covers it. When no root covers it yet, one is signed at once.
    pub async fn receipt(&self, cleanroom: &str, seq: u64) -> Result<Receipt, LedgerError> {
        let store = &self.shared.store;
        let room = self.room(cleanroom);
        let size = store.size(cleanroom).await.map_err(store_err("reading the size"))?;
        if seq >= size {
            return Err(LedgerError::NoSuchEntry { cleanroom: cleanroom.to_owned(), seq, size });
        }
        let root = match store.root_covering(cleanroom, seq).await.map_err(store_err("finding a covering root"))? {
            Some(r) => r,
            None => {
                sign_due(&self.shared, &room).await?;
                store.root_covering(cleanroom, seq).await.map_err(store_err("finding a covering root"))?.ok_or_else(
                    || LedgerError::Corrupt {
                        cleanroom: cleanroom.to_owned(),
                        message: format!("no root covers entry {seq} even after signing one"),
                    },
                )?
            }
        };
        let entry = store
            .entries(cleanroom, seq, 1)
            .await
            .map_err(store_err("reading the entry"))?
            .pop()
            .ok_or_else(|| LedgerError::NoSuchEntry { cleanroom: cleanroom.to_owned(), seq, size })?;
        let mut st = room.state.lock().await;
        load(&self.shared, &room, &mut st).await?;
        catch_up(&self.shared, &room, &mut st, root.size).await?;
        let corrupt = |message| LedgerError::Corrupt { cleanroom: cleanroom.to_owned(), message };
        if st.tree.leaf(seq) != Some(entry.leaf_hash()) {
            return Err(corrupt(format!("entry {seq}'s content does not match its stored leaf hash")));
        }
        let proof_err = |source| LedgerError::Proof { cleanroom: cleanroom.to_owned(), source };
        let computed = st.tree.root_at(root.size).map_err(proof_err)?;
        if parse_hash(&root.root) != Some(computed) {
            return Err(corrupt(format!("the stored leaf hashes do not give the root signed at size {}", root.size)));
        }
        let proof = st.tree.inclusion_proof(seq, root.size).map_err(proof_err)?;
        Ok(Receipt::new(entry, &proof, root))
    }

    /// A consistency proof between the trees of the first `old` and `new` entries.
    pub async fn consistency(&self, cleanroom: &str, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        let room = self.room(cleanroom);
        let mut st = room.state.lock().await;
        load(&self.shared, &room, &mut st).await?;
        catch_up(&self.shared, &room, &mut st, new).await?;
        st.tree
            .consistency_proof(old, new)
            .map_err(|source| LedgerError::Proof { cleanroom: cleanroom.to_owned(), source })
    }

    /// The clean room's whole ledger as an export file (see [`crate::export`]). Signs a root of
    /// the current size first, so the export is covered up to now.
    pub async fn export(&self, cleanroom: &str) -> Result<Vec<u8>, LedgerError> {
        let store = &self.shared.store;
        let room = self.room(cleanroom);
        sign_due(&self.shared, &room).await?;
        let key = self.key(cleanroom)?;
        let size = store.size(cleanroom).await.map_err(store_err("reading the size"))?;
        let mut entries = Vec::with_capacity(size as usize);
        let mut from = 0;
        while from < size {
            let to = (from + CHUNK).min(size);
            let es = store.entries(cleanroom, from, to - from).await.map_err(store_err("reading entries"))?;
            let hs = store.leaf_hashes(cleanroom, from, to).await.map_err(store_err("reading leaf hashes"))?;
            if es.len() as u64 != to - from || hs.len() != es.len() {
                return Err(LedgerError::Corrupt {
                    cleanroom: cleanroom.to_owned(),
                    message: format!("entries {from}..{to} are not all stored"),
                });
            }
            entries.extend(es.into_iter().zip(hs));
            from = to;
        }
        let mut roots = Vec::new();
        let mut from_size = 0;
        loop {
            let page = store.roots(cleanroom, from_size, 10_000).await.map_err(store_err("reading roots"))?;
            let Some(last) = page.last() else { break };
            from_size = last.size + 1;
            roots.extend(page);
        }
        Ok(write_export(cleanroom, &key.public_key().key_id(), &entries, &roots))
    }

    fn key(&self, cleanroom: &str) -> Result<Arc<ServiceKey>, LedgerError> {
        self.shared.keys.key(cleanroom).map_err(|message| LedgerError::Key { cleanroom: cleanroom.to_owned(), message })
    }
}

/// The clean room's writer: group commit.
async fn writer(shared: Arc<Shared>, room: Weak<Room>, cleanroom: String, mut rx: mpsc::Receiver<Pending>) {
    let max = shared.config.max_batch.max(1);
    let mut batch: Vec<Pending> = Vec::with_capacity(max);
    while rx.recv_many(&mut batch, max).await > 0 {
        // The appenders just acknowledged are being woken and queue their next entries: let
        // them run before taking the batch, so it holds them all instead of the first few,
        // with the rest waiting a whole commit for the next one. A lone appender costs one
        // yield (microseconds).
        while batch.len() < max {
            let before = batch.len();
            tokio::task::yield_now().await;
            while batch.len() < max
                && let Ok(pending) = rx.try_recv()
            {
                batch.push(pending);
            }
            if batch.len() == before {
                break;
            }
        }
        let (drafts, replies): (Vec<EntryDraft>, Vec<_>) = batch.drain(..).unzip();
        match shared.store.append(&cleanroom, &drafts).await {
            Ok(entries) if entries.len() == replies.len() => {
                if let Some(room) = room.upgrade() {
                    record(&shared, &room, &entries);
                }
                for (reply, entry) in replies.into_iter().zip(entries) {
                    let _ = reply.send(Ok(entry));
                }
            }
            Ok(entries) => {
                let e = LedgerError::Corrupt {
                    cleanroom: cleanroom.clone(),
                    message: format!("the store appended {} entries for {} drafts", entries.len(), replies.len()),
                };
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
            Err(e) => {
                let e = store_err("appending")(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Extends the in-memory tree with freshly appended entries when it can without waiting (the
/// signer catches up from the store otherwise), and wakes the signer when a root is due.
fn record(shared: &Shared, room: &Room, entries: &[Entry]) {
    let Some(last) = entries.last() else { return };
    room.appended.fetch_max(last.seq + 1, Ordering::Relaxed);
    if let Ok(mut st) = room.state.try_lock()
        && st.loaded
    {
        let size = st.tree.size();
        for e in entries.iter().filter(|e| e.seq >= size) {
            if e.seq != st.tree.size() {
                break;
            }
            st.tree.push(e.leaf_hash());
        }
    }
    if room.appended.load(Ordering::Relaxed) >= room.signed.load(Ordering::Relaxed) + shared.config.root_every_entries {
        room.wake_signer.notify_one();
    }
}

/// The clean room's signer: every `root_every`, or when woken by the writer.
async fn signer(shared: Arc<Shared>, room: Weak<Room>) {
    loop {
        let Some(r) = room.upgrade() else { return };
        tokio::select! {
            _ = r.wake_signer.notified() => {}
            _ = tokio::time::sleep(shared.config.root_every) => {}
        }
        if let Err(e) = sign_due(&shared, &r).await {
            tracing::warn!(cleanroom = %r.name, error = %e, "ledger: signing a root failed; retrying at the next interval");
        }
    }
}

/// Loads the tree from the store on first use, checking it against the latest signed root.
async fn load(shared: &Shared, room: &Room, st: &mut RoomState) -> Result<(), LedgerError> {
    if st.loaded {
        return Ok(());
    }
    let name = &room.name;
    let latest = shared.store.latest_root(name).await.map_err(store_err("reading the latest root"))?;
    st.tree = Tree::new();
    st.loaded = true;
    if let Some(latest) = latest {
        catch_up(shared, room, st, latest.size).await?;
        let computed =
            st.tree.root_at(latest.size).map_err(|source| LedgerError::Proof { cleanroom: name.clone(), source })?;
        if parse_hash(&latest.root) != Some(computed) {
            st.loaded = false;
            return Err(LedgerError::Corrupt {
                cleanroom: name.clone(),
                message: format!("the stored leaf hashes do not give the root signed at size {}", latest.size),
            });
        }
        room.signed.fetch_max(latest.size, Ordering::Relaxed);
    }
    Ok(())
}

/// Extends the tree from the store's leaf hashes up to `upto` entries.
async fn catch_up(shared: &Shared, room: &Room, st: &mut RoomState, upto: u64) -> Result<(), LedgerError> {
    while st.tree.size() < upto {
        let from = st.tree.size();
        let to = upto.min(from + CHUNK);
        let hs = shared.store.leaf_hashes(&room.name, from, to).await.map_err(store_err("reading leaf hashes"))?;
        if hs.is_empty() {
            let size = shared.store.size(&room.name).await.map_err(store_err("reading the size"))?;
            return Err(LedgerError::Proof {
                cleanroom: room.name.clone(),
                source: ProofError::TooLarge { have: size, want: upto },
            });
        }
        for h in hs {
            st.tree.push(h);
        }
    }
    Ok(())
}

/// Catches the tree up with the store and signs every due root: each multiple of
/// `root_every_entries` past the last signed size, and the current size if new.
async fn sign_due(shared: &Shared, room: &Room) -> Result<(), LedgerError> {
    let mut st = room.state.lock().await;
    load(shared, room, &mut st).await?;
    let size = shared.store.size(&room.name).await.map_err(store_err("reading the size"))?;
    catch_up(shared, room, &mut st, size).await?;
    let signed = room.signed.load(Ordering::Relaxed);
    let size = st.tree.size();
    if size <= signed {
        return Ok(());
    }
    let key =
        shared.keys.key(&room.name).map_err(|message| LedgerError::Key { cleanroom: room.name.clone(), message })?;
    let every = shared.config.root_every_entries.max(1);
    let mut sizes = Vec::new();
    let mut next = (signed / every + 1) * every;
    while next < size {
        sizes.push(next);
        next += every;
    }
    sizes.push(size);
    for s in sizes {
        let root = st.tree.root_at(s).map_err(|source| LedgerError::Proof { cleanroom: room.name.clone(), source })?;
        let signed_root = SignedRoot::sign(&key, &room.name, s, &root, (shared.config.clock)());
        shared.store.put_root(&signed_root).await.map_err(store_err("storing a signed root"))?;
        room.signed.fetch_max(s, Ordering::Relaxed);
    }
    room.appended.fetch_max(size, Ordering::Relaxed);
    Ok(())
}
