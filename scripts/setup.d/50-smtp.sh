#!/usr/bin/env bash
# aiosmtpd, a real SMTP server in Python, for the alerts test (crates/consort/tests/alerts.rs):
# the test starts it with a login it checks, and consort's e-mail alerts are delivered to it
# over SMTP as to any relay. A venv under $CONSORT_CACHE/venvs/smtp.
source "$(dirname "$0")/../lib.sh"
pip_venv smtp "aiosmtpd==1.4.6"
