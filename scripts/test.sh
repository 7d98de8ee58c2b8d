#!/usr/bin/env bash
# Runs every test of Zion: formatting, lints, unit, property and end-to-end
# tests. Installs what the tests need when it is missing (run as root on a
# fresh machine, or install the packages yourself).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
install() {
  if [ "$(id -u)" = 0 ] && need apt-get; then
    echo "installing $*" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "missing: $* (install it and run again)" >&2
    exit 2
  fi
}

# The process-workload tests run small Python HTTP servers as replicas.
need python3 || install python3
# The gRPC health probe's tests run a real gRPC server in Python (grpcio and
# its grpc.health.v1 servicer), from PyPI: Debian packages no
# grpcio-health-checking. The gRPC rollout's test runs a grpcio service as
# the replicas and a grpcio client calling it through the proxy over HTTP/2.
if ! python3 -c 'import grpc, grpc_health.v1.health' 2>/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || install python3-pip
  python3 -m pip install --quiet --break-system-packages grpcio grpcio-health-checking
fi
# The API's OpenAPI test runs schemathesis (PyPI) against a real `zion up`.
if ! command -v st >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || install python3-pip
  python3 -m pip install --quiet --break-system-packages schemathesis
fi
# The metric-source tests start a real Prometheus scraping a test service.
need prometheus || install prometheus
# The TLS tests (the proxy's listeners, https notification receivers) make
# their certificates with openssl's CLI.
need openssl || install openssl
# The report tests open the HTML report in headless Chromium (/usr/bin/chromium);
# the web console's tests drive it through ChromeDriver.
need chromium || install chromium
need chromedriver || install chromium-driver
# The PostgreSQL store's tests start throwaway clusters with initdb and pg_ctl
# (found on PATH or in Debian's /usr/lib/postgresql/*/bin).
have_postgres() {
  need initdb && need pg_ctl && return 0
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return 0
  done
  return 1
}
have_postgres || install postgresql
# The metrics tests lint /metrics with promtool and start a Prometheus that
# scrapes it and discovers the replicas; the metric sources' tests start one
# too (both in Debian's prometheus).
{ need promtool && need prometheus; } || install prometheus
# The HAProxy router's tests start their own haproxy (Debian's package, 2.6 in
# bookworm) in the foreground on free ports, never the system service; it is
# often in /usr/sbin, off a plain user's PATH.
need haproxy || [ -x /usr/sbin/haproxy ] || install haproxy
# The nginx router's tests start their own nginx (Debian's package, 1.22 in
# bookworm) in the foreground on free ports with every file in a temporary
# folder, never the system service; it too is in /usr/sbin.
need nginx || [ -x /usr/sbin/nginx ] || install nginx

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== simulated workloads (the scale bench): clippy and their tests"
cargo clippy -p zion-server --features simulated --all-targets --locked -- -D warnings
cargo test -p zion-server --features simulated --locked --lib simulated::
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
