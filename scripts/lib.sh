# Shared by the scripts in this folder: where caches live, and small helpers.
# Everything a script installs goes under $CONSORT_CACHE (outside the clone), so
# a second run is fast and a fresh machine still works when it is empty.

set -euo pipefail

CONSORT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONSORT_ROOT
export CONSORT_CACHE="${CONSORT_CACHE:-$HOME/.cache/consort}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CONSORT_CACHE/target}"
mkdir -p "$CONSORT_CACHE"

log() { printf '\033[1m[consort]\033[0m %s\n' "$*" >&2; }

# Makes the venv $CONSORT_CACHE/venvs/NAME with the pinned requirements given (`pkg==version`
# ...), once: a marker names the pins, so changing one rebuilds the venv from scratch.
pip_venv() {
  local venv="$CONSORT_CACHE/venvs/$1"
  shift
  local marker
  marker="$venv/.pinned-$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
  [ -f "$marker" ] && return 0
  log "installing $* into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  touch "$marker"
}

# Runs apt-get install for the packages not installed yet (one `apt-get update` per cache).
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -f "$CONSORT_CACHE/.apt-updated" ]; then
    $sudo apt-get update -qq && touch "$CONSORT_CACHE/.apt-updated"
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
