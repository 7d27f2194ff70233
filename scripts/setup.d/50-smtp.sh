#!/usr/bin/env bash
# aiosmtpd, a real SMTP server in Python, for the alerts test (crates/consort/tests/alerts.rs):
# the test starts it with a login it checks, and consort's e-mail alerts are delivered to it
# over SMTP as to any relay. A venv under $CONSORT_CACHE/venvs/smtp; the marker names the
# pinned version, so changing the pin reinstalls.
source "$(dirname "$0")/../lib.sh"
AIOSMTPD_VERSION=1.4.6
venv="$CONSORT_CACHE/venvs/smtp"
marker="$venv/.aiosmtpd-$AIOSMTPD_VERSION"
if [ ! -f "$marker" ]; then
  log "installing aiosmtpd $AIOSMTPD_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
  touch "$marker"
fi
