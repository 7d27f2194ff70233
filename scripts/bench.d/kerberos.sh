#!/usr/bin/env bash
# Kerberos: the jar check's cost on a kerberized HDFS (MIT KDC + consort-rigs' SecureHadoop:
# SASL/GSSAPI over RPC, SPNEGO and a delegation token over WebHDFS) beside the plain minicluster,
# in one run, interleaved; p50 per check with a fresh Storage and the first check (with the
# login) per case, and their ratios. Extra arguments go to the benchmark, e.g.
# `scripts/bench kerberos --runs 50 --size-mb 100`. The line is also written to
# $CONSORT_CACHE/bench/kerberos.txt.
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
mkdir -p "$CONSORT_CACHE/bench"
cargo run -q --release -p consort-storage --example kerberos_bench -- "$@" | tee "$CONSORT_CACHE/bench/kerberos.txt"
