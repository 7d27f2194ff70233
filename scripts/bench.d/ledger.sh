#!/usr/bin/env bash
# Ledger benchmark: leaf hashing, tree append, root signing, receipt creation and
# verification at 1,000,000 entries, and the service's durable appends/s with group commit
# and the default signing policy (a root every 1,000 entries or 100 ms), per store. Ends with
# one line per store:
#   ledger: store=S appends=N appends_per_s=X max_entries_per_root=K receipt_verify_us=Y cose_verify_per_s=Z
# (store=memory from the ledger crate alone; then store=sqlite and store=postgres from
# crates/store/examples/ledger_service_bench.rs, with cose_verify_per_s.)
# Sizes: CONSORT_BENCH_APPENDS (500000), CONSORT_BENCH_APPENDERS (256), CONSORT_BENCH_TREE (1000000).
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
log "ledger bench"
cargo bench -q -p consort-ledger --bench ledger
# The same service over the real durable stores (SQLite, PostgreSQL), with receipt
# verification and COSE request verification: the figures the targets are about.
cargo run -q --release -p consort-store --example ledger_service_bench
