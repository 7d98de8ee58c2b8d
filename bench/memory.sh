#!/usr/bin/env bash
# Idle resident memory of `zion up` with one target and two versions running
# (a canary held at its first step), against the resident memory of one
# replica of the demo service measured in the same run. Goal: under 30 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p zion-cli
ZION="$PWD/target/release/zion"
work=$(mktemp -d)
cleanup() { [ -n "${up:-}" ] && kill "$up" 2>/dev/null && wait "$up" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=$(port); target=$(port)
cat > "$work/zion.yaml" <<YAML
server: { listen: 127.0.0.1:$api, data_dir: state }
environments: [ { name: bench } ]
services:
  - name: web
    workload:
      process:
        command: ["$ZION", "demo-app", "--port", "{port}", "--version", "{version}"]
        replicas: 2
    health: { http: /healthz, interval: 1s, timeout: 500ms }
    targets: { bench: { listen: 127.0.0.1:$target } }
    canary: { steps: [ { weight: 10 }, { weight: 100 } ] }
YAML
"$ZION" up -f "$work/zion.yaml" 2>"$work/up.log" &
up=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$api/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
"$ZION" -f "$work/zion.yaml" deploy web 1.0 --env bench --wait >/dev/null
"$ZION" -f "$work/zion.yaml" deploy web 2.0 --env bench >/dev/null
for _ in $(seq 100); do
  "$ZION" -f "$work/zion.yaml" status --output json | grep -q '"canary_weight":10' && break; sleep 0.2
done
# A little traffic through the proxy, then idle.
for _ in $(seq 200); do curl -s "http://127.0.0.1:$target/" >/dev/null; done
sleep 10
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
zion_kb=$(rss_kb "$up")
replica=$(pgrep -f "demo-app --port .* --version 1.0" | head -1)
replica_kb=$(rss_kb "$replica")
versions=$("$ZION" -f "$work/zion.yaml" status --output json | python3 -c 'import json,sys; print(", ".join(v["version"]+" ("+str(v["ready"])+" ready)" for v in json.load(sys.stdin)[0]["versions"]))')
echo "running versions: $versions"
python3 - "$zion_kb" "$replica_kb" <<'PY'
import sys
z, r = (int(x) for x in sys.argv[1:3])
print(f"zion up idle RSS:       {z/1024:6.1f} MB (goal < 30 MB)")
print(f"one demo replica RSS:   {r/1024:6.1f} MB (baseline, same run)")
print(f"zion up / one replica:  {z/r:6.2f}x")
PY
