#!/usr/bin/env bash
# Set up a virtualenv with the hub and gateway packages, then run `wardlink demo`.
# No root and no servers needed. Extra arguments go to `wardlink demo` (try --help).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${WARDLINK_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating a Python virtualenv in $VENV ..."
  if ! python3 -m venv "$VENV"; then
    echo "python3 -m venv failed: install the venv module (sudo apt-get install python3-venv) and retry." >&2
    exit 1
  fi
fi
if ! "$VENV/bin/python" -c 'import wardlink.hub, wardlink.edge, wardlink.hardware, amqtt, gpiozero' 2>/dev/null \
   || [ pyproject.toml -nt "$VENV/.wardlink-installed" ] || [ provisioning/constraints.txt -nt "$VENV/.wardlink-installed" ]; then
  echo "Installing Wardlink and its dependencies into $VENV (first run takes a minute) ..."
  "$VENV/bin/python" -m pip install --quiet -c provisioning/constraints.txt --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c provisioning/constraints.txt -e '.[demo]'
  touch "$VENV/.wardlink-installed"
fi
exec "$VENV/bin/wardlink" demo "$@"
