#!/usr/bin/env bash
# Debian's MIT Kerberos (KDC, kadmin.local, kinit/klist) and a curl with GSSAPI for the
# kerberized Hadoop rig's tests (crates/rigs). Tests start their own KDC in a scratch directory
# with KRB5_CONFIG/KRB5_KDC_PROFILE pointing there; nothing here configures a realm. The
# packages' own daemons are stopped and disabled so that no system KDC answers by accident.
source "$(dirname "$0")/../lib.sh"
if ! command -v krb5kdc >/dev/null 2>&1 || ! command -v kadmin.local >/dev/null 2>&1 \
  || ! command -v kinit >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  # Debconf would ask for a default realm and KDC hosts otherwise.
  export DEBIAN_FRONTEND=noninteractive
  apt_install krb5-kdc krb5-admin-server krb5-user curl
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# The init scripts stop by pidfile, so the tests' own KDCs are never touched.
for svc in krb5-kdc krb5-admin-server; do
  if [ -x "/etc/init.d/$svc" ]; then
    $sudo service "$svc" stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && $sudo update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
done
# krb5-config writes an /etc/krb5.conf for the ATHENA.MIT.EDU example realm; a JVM without
# -Djava.security.krb5.conf would quietly take its default realm. Set it aside so such a JVM fails
# plainly ("Cannot locate default realm") instead. A site's own krb5.conf is left alone.
if [ -f /etc/krb5.conf ] && grep -qE '^\s*default_realm\s*=\s*ATHENA\.MIT\.EDU' /etc/krb5.conf; then
  log "moving the example /etc/krb5.conf aside (tests use their own KRB5_CONFIG)"
  $sudo mv /etc/krb5.conf /etc/krb5.conf.debian-example
fi
# Only ever the tests' own KDCs (krb5kdc -n, started with a scratch KRB5_KDC_PROFILE) may run.
if pgrep -x krb5kdc >/dev/null 2>&1 && ! pgrep -a krb5kdc | grep -q -- ' -n'; then
  log "warning: a system krb5kdc is running; tests do not use it (they set KRB5_CONFIG)"
fi
command -v krb5kdc kadmin.local kdb5_util kinit curl >&2
