#!/usr/bin/env bash
# Runs all the tests. First installs the test tools that are missing:
#   rotel (PyPI), a real OpenTelemetry collector the export tests send to.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh collector).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import rotel' 2>/dev/null; then
  echo "== installing rotel (OTLP collector for the export tests)"
  python3 -m pip install --quiet --disable-pip-version-check --pre rotel==0.0.1a15
fi

cargo test "$@"
