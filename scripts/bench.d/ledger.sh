#!/usr/bin/env bash
# Ledger benchmark: leaf hashing, tree append, root signing, receipt creation and
# verification at 1,000,000 entries, and the service's durable appends/s with group commit
# and the default signing policy (a root every 1,000 entries or 100 ms), per store. Ends with
# one line per store:
#   ledger: store=S appends=N appends_per_s=X max_entries_per_root=K receipt_verify_us=Y cose_verify_per_s=Z
# (store=memory until the SQL stores are added to the bench's `stores()`; cose_verify_per_s
# is n/a until the governance COSE benchmark is wired into its hook.)
# Sizes: CONSORT_BENCH_APPENDS (500000), CONSORT_BENCH_APPENDERS (256), CONSORT_BENCH_TREE (1000000).
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
log "ledger bench"
cargo bench -q -p consort-ledger --bench ledger
