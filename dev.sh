#!/usr/bin/env bash
# callrec's developer entry point, for a fresh Debian machine, as root:
#   bash dev.sh demo   set everything up, start a lab Asterisk and callrec, place one sample
#                      call with SIPp, show its contact-history row and its recording
#   bash dev.sh test   the whole test suite: lint, types, unit, PostgreSQL + SQLite storage,
#                      and the real-Asterisk tier (lab Asterisk + SIPp); never skipped
# Each step installs what it needs (Debian packages, a virtualenv in .venv) and is quick
# when already done.
set -euo pipefail
cd "$(dirname "$0")"
PROJECT_DIR=$PWD
VENV=$PROJECT_DIR/.venv

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'dev.sh: %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root: the lab Asterisk lives in a chroot (debootstrap, mount)"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  apt-get update -q || die "apt-get update failed: is Debian's package archive reachable?"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
    || die "could not install ${missing[*]}"
}

ensure_venv() {
  command -v python3 >/dev/null || apt_install python3
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "callrec needs Python >= 3.11 (found $(python3 --version))"
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  local stamp=$VENV/.callrec-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "creating the virtualenv in .venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e '.[test]' || die "pip install failed"
    echo "$want" > "$stamp"
  fi
}

# The suite needs a real PostgreSQL. Use the one on 127.0.0.1:5432 if there is one (as on
# the project's CI machines); otherwise install Debian's and give it a test database.
ensure_postgres() {
  if "$VENV/bin/python" - <<'PY'
import socket, sys
with socket.socket() as s:
    s.settimeout(2)
    sys.exit(0 if s.connect_ex(("127.0.0.1", 5432)) == 0 else 1)
PY
  then return 0; fi
  say "no PostgreSQL on 127.0.0.1:5432: installing Debian's"
  apt_install postgresql
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'callrec-test'\"" \
    || die "could not configure the local PostgreSQL"
  su postgres -c "createdb test" 2>/dev/null || true
  export CALLREC_TEST_PG_URL="postgresql+psycopg://postgres:callrec-test@127.0.0.1:5432/test"
}

setup() {
  need_root
  apt_install debootstrap sip-tester sox ca-certificates
  ensure_venv
}

cmd_demo() {
  setup
  "$VENV/bin/callrec" demo --project-dir "$PROJECT_DIR"
}

cmd_test() {
  setup
  apt_install systemd chromium chromium-driver softhsm2   # chromium: the browser test of callrec web; softhsm2: the PKCS#11 master key
  ensure_postgres
  say "ruff"
  "$VENV/bin/ruff" check callrec tests bench
  say "mypy --strict"
  "$VENV/bin/mypy" callrec
  say "provisioning the Asterisk lab (real Asterisk 22 in a Debian sid chroot)"
  "$VENV/bin/callrec" lab up \
    || die "the Asterisk lab could not be provisioned: the real-Asterisk tier cannot run"
  say "pytest (unit, storage on SQLite and PostgreSQL, real Asterisk + SIPp)"
  "$VENV/bin/pytest" -p no:cacheprovider "$@"
}

case "${1:-}" in
  demo) shift; cmd_demo "$@" ;;
  test) shift; cmd_test "$@" ;;
  *) echo "usage: bash dev.sh demo|test [pytest arguments]" >&2; exit 2 ;;
esac
