#!/usr/bin/env bash
# man (with groff) renders the pages of `consort man` in the CLI tests; bash loads the
# completion script of `consort completions bash`.
source "$(dirname "$0")/../lib.sh"
command -v man >/dev/null 2>&1 || apt_install man-db
command -v groff >/dev/null 2>&1 || apt_install groff-base
