#!/usr/bin/env bash
# `zion import` and `zion report` over 1,000,000 deployments, through the
# binary and a real `zion up`. Goals: import at >= 100,000 lines/s; the
# report in under 2 s with the server under 500 MB resident; live traffic
# through the target's proxy answered as fast during the import as idle.
# Baselines measured in the same run, on the same file and database:
#   - import: Python's json.loads over every line (parsing alone, no store);
#   - report: Python's sqlite3 reading every imported row (reading alone);
#   - traffic: the same requests to the same version with the server idle.
# N=200000 bench/history.sh runs a smaller history.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
cargo build --release -q -p zion-cli
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
ZION="$target_dir/release/zion"
work=$(mktemp -d)
cleanup() { [ -n "${up:-}" ] && kill "$up" 2>/dev/null && wait "$up" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=$(port); target=$(port)
cat > "$work/zion.yaml" <<YAML
server: { listen: 127.0.0.1:$api, data_dir: state }
environments: [ { name: staging }, { name: production, production: true } ]
services:
  - name: web
    workload: { process: { command: ["$ZION", "demo-app", "--port", "{port}", "--version", "{version}"] } }
    targets: { production: { listen: 127.0.0.1:$target } }
YAML

# A year of history: 40 services, two environments, every type and result,
# commits an hour to a day before, incidents blaming one failure in ten.
python3 - "$N" "$work/history.jsonl" <<'PY'
import json, sys, random
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
start = 1767225600  # 2026-01-01T00:00:00Z
span = 365 * 86400
types = ["feature"] * 7 + ["hotfix", "config", "rollback"]
def ts(t): 
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
with open(path, "w") as f:
    for i in range(n):
        s = start + i * span // n
        d = rnd.randint(60, 3600)
        r = rnd.random()
        result = "succeeded" if r < 0.9 else ("rolled_back" if r < 0.97 else "failed")
        env = "production" if i % 3 else "staging"
        f.write(json.dumps({"external_id": f"gh-{i}", "service": f"svc-{i % 40}",
            "environment": env, "version": f"1.{i}", "type": rnd.choice(types),
            "started_at": ts(s), "finished_at": ts(s + d), "result": result,
            "commit": f"{i:08x}", "committed_at": ts(s - rnd.randint(3600, 86400))},
            separators=(",", ":")) + "\n")
        if result != "succeeded" and i % 10 == 0:
            f.write(json.dumps({"kind": "incident", "external_id": f"pd-{i}",
                "service": f"svc-{i % 40}", "environment": env,
                "opened_at": ts(s + d + 60), "resolved_at": ts(s + d + 1800),
                "caused_by": f"gh-{i}"}, separators=(",", ":")) + "\n")
PY
lines=$(wc -l < "$work/history.jsonl")
size_mb=$(( $(stat -c %s "$work/history.jsonl") / 1000000 ))

start_up() {
  "$ZION" up -f "$work/zion.yaml" 2>>"$work/up.log" &
  up=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$api/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}
stop_up() { kill "$up"; wait "$up" 2>/dev/null || true; up=; }
now() { date +%s.%N; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

# GETs through the target's proxy, one connection each, every 10 ms until
# the file STOP exists; prints the count and p50, p99 and max in ms.
sample() {
  python3 - "$target" "$1" <<'PY'
import http.client, os, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
lat = []
while not os.path.exists(stop):
    t = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", "/")
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        sys.exit(f"the proxy answered {r.status}")
    lat.append((time.perf_counter() - t) * 1000)
    time.sleep(0.01)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{len(lat)} {q(0.5):.2f} {q(0.99):.2f} {lat[-1]:.2f}")
PY
}

start_up
"$ZION" -f "$work/zion.yaml" deploy web 1.0 --env production --wait >/dev/null 2>>"$work/up.log"
rm -f "$work/stop"
sample "$work/stop" >"$work/idle.out" &
sampler=$!
sleep 5
touch "$work/stop"
wait "$sampler"
rm -f "$work/stop"
sample "$work/stop" >"$work/busy.out" &
sampler=$!
t0=$(now)
"$ZION" -f "$work/zion.yaml" import "$work/history.jsonl" >"$work/import.out" 2>/dev/null
t1=$(now)
touch "$work/stop"
wait "$sampler"
import_s=$(echo "$t1 - $t0" | bc -l)
import_hwm=$(hwm_mb "$up")
t0=$(now)
"$ZION" -f "$work/zion.yaml" import "$work/history.jsonl" >/dev/null 2>&1
t1=$(now)
again_s=$(echo "$t1 - $t0" | bc -l)
stop_up

parse_s=$(python3 - "$work/history.jsonl" <<'PY'
import json, sys, time
t = time.perf_counter()
with open(sys.argv[1]) as f:
    for line in f:
        json.loads(line)
print(f"{time.perf_counter() - t:.3f}")
PY
)

# A fresh server, so its peak memory is the report's alone.
start_up
best=
for run in 1 2 3; do
  t0=$(now)
  "$ZION" -f "$work/zion.yaml" report --since 2026-01-01 --until 2026-12-31 --format json >"$work/report.json"
  t1=$(now)
  s=$(echo "$t1 - $t0" | bc -l)
  if [ -z "$best" ] || (( $(echo "$s < $best" | bc -l) )); then best=$s; fi
done
report_hwm=$(hwm_mb "$up")
"$ZION" -f "$work/zion.yaml" report --since 2026-01-01 --until 2026-12-31 --format html --out "$work/report.html" 2>/dev/null
stop_up
total=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total_deployments"])' "$work/report.json")

scan_s=$(python3 - "$work/state/zion.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
t = time.perf_counter()
n = 0
for row in db.execute("SELECT * FROM imported_deployments"):
    n += 1
print(f"{time.perf_counter() - t:.3f}")
PY
)

printf 'history: %s lines (%s MB), %s deployments in the report\n' "$lines" "$size_mb" "$total"
printf 'import:  %.2f s = %.0f lines/s (goal >= 100000); server peak %s MB\n' "$import_s" "$(echo "$lines / $import_s" | bc -l)" "$import_hwm"
printf '         again (nothing new): %.2f s\n' "$again_s"
printf '         baseline, Python json.loads of every line: %.2f s; ratio %.2fx\n' "$parse_s" "$(echo "$import_s / $parse_s" | bc -l)"
read -r busy_n busy_p50 busy_p99 busy_max <"$work/busy.out"
read -r idle_n idle_p50 idle_p99 idle_max <"$work/idle.out"
printf 'traffic: during the import, %s requests through the proxy: p50 %s ms, p99 %s ms, max %s ms\n' "$busy_n" "$busy_p50" "$busy_p99" "$busy_max"
printf '         baseline, idle for 5 s: %s requests: p50 %s ms, p99 %s ms, max %s ms; p99 ratio %.2fx\n' "$idle_n" "$idle_p50" "$idle_p99" "$idle_max" "$(echo "$busy_p99 / $idle_p99" | bc -l)"
printf 'report:  best of 3 %.2f s (goal < 2 s); server peak %s MB (goal < 500 MB)\n' "$best" "$report_hwm"
printf '         baseline, Python sqlite3 reading every row: %.2f s; ratio %.2fx\n' "$scan_s" "$(echo "$best / $scan_s" | bc -l)"
printf '         HTML report: %s KB\n' "$(( $(stat -c %s "$work/report.html") / 1024 ))"
