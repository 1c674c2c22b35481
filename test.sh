#!/usr/bin/env bash
# Install what the test suite needs and run it.
#   Debian packages: mosquitto, influxdb (influxd), postgresql, nginx, slapd + ldap-utils (OpenLDAP),
#   chromium + chromium-driver
#   (installed when missing and root or passwordless sudo is available), then a virtualenv
#   with the project and its test extras; then the static checks (ruff, mypy), then pytest. Extra
#   arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${WARDLINK_VENV:-.venv}"

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have mosquitto || missing+=(mosquitto)
have nginx || missing+=(nginx)
# OpenLDAP for the directory sign-in tests, which start their own slapd on a free port (the
# package's own service, if apt starts it, is never used).
have slapd || missing+=(slapd)
have ldapadd || missing+=(ldap-utils)
have influxd || missing+=(influxdb)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || have initdb || missing+=(postgresql)
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
have shellcheck || missing+=(shellcheck)
have pdftoppm || missing+=(poppler-utils)
{ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q libzbar.so || missing+=(libzbar0)
have systemd-analyze || missing+=(systemd)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [ "$SUDO" = none ]; then
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
    [ "${CI:-}" = true ] && exit 1
    echo "Continuing: tests that need them will be skipped (they fail under CI=true)." >&2
  else
    echo "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# Every package at the version provisioning/constraints.txt pins (`.ci/constraints update` makes it).
CONSTRAINTS=provisioning/constraints.txt
STAMP="$VENV/.wardlink-test-installed"
install() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -e '.[test]'
}
if ! "$VENV/bin/python" -c 'import wardlink.hub, wardlink.edge, wardlink.hardware, pytest, aiosmtpd' 2>/dev/null \
   || [ pyproject.toml -nt "$STAMP" ] || [ "$CONSTRAINTS" -nt "$STAMP" ]; then
  echo "Installing Wardlink with its test dependencies into $VENV ..."
  existed=$([ -x "$VENV/bin/python" ] && echo yes || echo no)
  install
  # pip never removes a package: one left from an earlier set (or at another version) makes this
  # script's own virtualenv start afresh; one named by WARDLINK_VENV is the user's, only reported.
  # (A dependency added to pyproject.toml but not pinned yet shows here too: .ci/constraints update.)
  if ! stray=$("$VENV/bin/python" .ci/constraints check); then
    echo "$VENV holds packages $CONSTRAINTS does not pin as installed:" >&2
    echo "$stray" >&2
    if [ "$existed" = yes ] && [ "$VENV" = .venv ] && [ -f .venv/pyvenv.cfg ]; then
      echo "Recreating .venv ..."
      rm -rf .venv
      install
    fi
  fi
  touch "$STAMP"
fi
echo "Static checks: ruff check ."
"$VENV/bin/ruff" check --quiet .
# mypy over the folders listed in [tool.mypy] files of pyproject.toml, by their installed names
echo "Static checks: mypy (.ci/typecheck)"
"$VENV/bin/python" .ci/typecheck
# The 30 slowest tests are listed at the end, to keep an eye on the 40-minute budget.
exec "$VENV/bin/python" -m pytest --durations=30 "$@"
