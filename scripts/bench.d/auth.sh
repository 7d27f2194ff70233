#!/usr/bin/env bash
# What authentication adds to a request: requests/s and p50/p99 latency of
# `GET /v1/scheduler/jobs` with an API token and with a JWT (the real oidc-provider rig,
# keys cached), beside the same request with authentication off, in the same run:
# in-process (`oneshot`, interleaved rounds) and through a keep-alive socket. Also the
# JWT's first request (discovery + JWKS) and a new token's first (the signature check).
# Ends with the summary line
#   auth: off_p50_us=A token_p50_us=B jwt_p50_us=C token_added_p50_us=D jwt_added_p50_us=E off_rps=… token_rps=… jwt_rps=…
# `scripts/bench auth` runs it after setup (45-oidc-provider.sh installs the rig). Sizes:
# CONSORT_BENCH_ROUNDS (20), CONSORT_BENCH_REQUESTS (2000), CONSORT_BENCH_SOCKET_REQUESTS
# (1000), CONSORT_BENCH_FRESH_JWTS (10). Method and figures: docs/auth.md "Benchmark".
source "$(dirname "$0")/../lib.sh"
cd "$CONSORT_ROOT"
cargo bench -q -p consort-server --bench auth
