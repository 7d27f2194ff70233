#!/usr/bin/env bash
# PostgreSQL server binaries (Debian's package) for the scheduler store's tests and
# benchmark. Tests start their own throwaway cluster (initdb in a temp dir, 127.0.0.1, a free
# port); nothing here starts a server. As root, tests run PostgreSQL as the `postgres` user
# the package creates, since initdb refuses to run as root.
source "$(dirname "$0")/../lib.sh"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  log "no postgres user: reinstalling postgresql-common to create it"
  apt_install postgresql-common
fi
ls -d /usr/lib/postgresql/*/bin | tail -1 >&2
