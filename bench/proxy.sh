#!/usr/bin/env bash
# Compares Zion's built-in proxy with nginx on this machine (MODE=nginx, the
# default), or Zion's plain split with the same split plus routing features
# (MODE=features).
#
# One fast backend process serves "200 ok" on two ports (the "stable" and
# "canary" versions). wrk then measures, in the same run:
#   MODE=nginx
#     1. the backend directly (the ceiling),
#     2. nginx with a 95/5 weighted upstream and keep-alive to the backends,
#     3. Zion's proxy with a 95/5 route;
#   MODE=features
#     1. Zion's proxy with a 95/5 route (plain),
#     2. a second Zion proxy with the same split, sticky sessions on and a
#        header rule no request matches; wrk sends no cookie, so every
#        request is a new client: checked against the rule, assigned by the
#        split and answered with a Set-Cookie (the costliest case),
#     3. the same proxy as 2 with every request carrying the stable cookie
#        (returning clients, pinned without the split),
#     4. a third Zion proxy sending every request to stable and a copy of
#        each to a canary that answers after SLOW_MS (mirroring to a slow
#        canary: clients should not wait for the copies; copies beyond the
#        proxy's in-flight bound are dropped, as its summary line says).
# It prints requests/s and latency percentiles for each, and the ratios
# (Zion to nginx, or features to plain). This is a benchmark for people, not
# a test: numbers depend on the machine, and wrk, the proxy and the backend
# share its cores. The targets are measured in turn for ROUNDS rounds and
# each figure is the median, so a burst of other work on the machine skews
# one round, not the comparison.
#
# Tunables (environment): MODE (nginx|features), DURATION (10s), WARMUP (2s),
# ROUNDS (3), CONNECTIONS (64), THREADS (2), WEIGHT (5, the canary percent),
# SLOW_MS (300, the mirrored canary's answer time in MODE=features).
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WEIGHT=${WEIGHT:-5}
SLOW_MS=${SLOW_MS:-300}
MODE=${MODE:-nginx}
case $MODE in nginx | features) ;; *) printf 'error: MODE must be nginx or features, not %s\n' "$MODE" >&2; exit 2 ;; esac
STABLE_WEIGHT=$((100 - WEIGHT))
KEEPALIVE=$(( CONNECTIONS > 64 ? CONNECTIONS : 64 ))

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
EXAMPLES="$TARGET_DIR/release/examples"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

find_nginx() {
    command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true
}

# --- tools -------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ "$MODE" = nginx ]; then [ -n "$(find_nginx)" ] || missing+=(nginx); fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        die "missing ${missing[*]}: install them (e.g. sudo apt-get install -y ${missing[*]}) and run again"
    fi
fi
NGINX="$(find_nginx)"
if [ "$MODE" = nginx ]; then [ -n "$NGINX" ] || die "nginx is still not installed"; fi
command -v wrk >/dev/null 2>&1 || die "wrk is still not installed"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"

log "building the backend and the proxy runner (release)"
(cd "$ROOT" && cargo build --release --quiet -p zion-proxy --example bench_backend --example bench_proxy)

# --- processes and cleanup ---------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/zion-bench.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until FILE has at least N lines (the child PID printed its
# addresses); fails if the child exits or takes more than 10 s.
wait_lines() {
    local file=$1 n=$2 pid=$3 i
    for i in $(seq 1 200); do
        if [ -f "$file" ] && [ "$(wc -l <"$file")" -ge "$n" ]; then return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Waits until something accepts on 127.0.0.1:PORT.
wait_port() {
    local port=$1 i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "nothing listens on 127.0.0.1:$port"
}

free_port() {
    local port
    for port in $(seq 18080 18999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port in 18080-18999"
}

"$EXAMPLES/bench_backend" --slow "$SLOW_MS" >"$WORK/backend.addrs" 2>"$WORK/backend.log" &
PIDS+=($!)
wait_lines "$WORK/backend.addrs" 3 "$!" || { cat "$WORK/backend.log" >&2; die "the backend did not start"; }
STABLE="$(sed -n 1p "$WORK/backend.addrs")"
CANARY="$(sed -n 2p "$WORK/backend.addrs")"
SLOW="$(sed -n 3p "$WORK/backend.addrs")"
log "backend: stable $STABLE, canary $CANARY, slow canary ($SLOW_MS ms) $SLOW"

start_nginx() {
    NGINX_PORT="$(free_port)"
    mkdir -p "$WORK/nginx"
    {
        # Running as root, nginx would switch its workers to "nobody".
        if [ "$(id -u)" -eq 0 ]; then echo "user $(id -un) $(id -gn);"; fi
        cat <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream backends {
        server $STABLE weight=$STABLE_WEIGHT;
        server $CANARY weight=$WEIGHT;
        # As many idle connections to the backends as clients, as Zion's
        # pool keeps: with fewer, nginx opens and closes a backend
        # connection for most requests at high connection counts.
        keepalive $KEEPALIVE;
    }
    server {
        # As deep an accept queue as the proxies' (tokio's 1,024; nginx's
        # default is 511).
        listen 127.0.0.1:$NGINX_PORT backlog=1024;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The same forwarding headers Zion adds, so both do the same work.
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
        }
    }
}
EOF
    } >"$WORK/nginx/nginx.conf"
    "$NGINX" -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
        || die "nginx rejected the generated config"
    "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
    PIDS+=($!)
    wait_port "$NGINX_PORT"
    log "nginx ($("$NGINX" -v 2>&1 | sed 's/.*version: //')): 127.0.0.1:$NGINX_PORT"
}

# Starts a Zion proxy runner with the split and any further FLAGS; sets
# ZION_ADDR and ZION_PID.
start_zion() {
    local name=$1
    shift
    "$EXAMPLES/bench_proxy" --stable "$STABLE" --canary "$CANARY" --weight "$WEIGHT" "$@" \
        >"$WORK/$name.addr" 2>"$WORK/$name.log" &
    ZION_PID=$!
    PIDS+=("$ZION_PID")
    wait_lines "$WORK/$name.addr" 1 "$ZION_PID" || { cat "$WORK/$name.log" >&2; die "zion's proxy ($name) did not start"; }
    ZION_ADDR="$(sed -n 1p "$WORK/$name.addr")"
    log "zion proxy ($name${*:+: $*}): $ZION_ADDR"
}

# The header rule of the features run: no request of wrk carries it.
RULE_HEADER=x-zion-bench
if [ "$MODE" = nginx ]; then
    start_nginx
    start_zion proxy
    ZION="$ZION_ADDR"
else
    start_zion plain
    PLAIN="$ZION_ADDR"
    PLAIN_PID=$ZION_PID
    start_zion features --sticky --match-header "$RULE_HEADER=canary"
    FEATURES="$ZION_ADDR"
    FEATURES_PID=$ZION_PID
    start_zion mirror --canary "$SLOW" --weight 0 --mirror 100
    MIRROR="$ZION_ADDR"
    MIRROR_PID=$ZION_PID
fi

# --- measurements ------------------------------------------------------------
# wrk prints latencies as 812.00us, 1.23ms, 1.02s or 1.50m; all become ms.
summarise() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END { printf "%s %s %s %d\n", rps, p50, p99, bad + 0 }
    ' "$1"
}

# Measures URL once as target NAME, round ROUND; further arguments go to wrk.
run() {
    local name=$1 url=$2 round=$3
    shift 3
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$WORK/wrk-$name-$round.txt"
    if grep -q "Socket errors" "$WORK/wrk-$name-$round.txt"; then
        log "$name: $(grep 'Socket errors' "$WORK/wrk-$name-$round.txt" | sed 's/^ *//')"
    fi
    summarise "$WORK/wrk-$name-$round.txt" >>"$WORK/result-$name.txt"
    read -r rps _ p99 _ < <(tail -n 1 "$WORK/result-$name.txt")
    log "round $round $name: $rps requests/s, p99 $p99 ms"
}

# The median of column COL of FILE (numbers, one row per round).
median() {
    sort -g -k"$2","$2" "$1" | awk -v col="$2" '{ v[NR] = $col } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# Stops the Zion runner PID (in this shell: a subshell cannot wait for it)
# so it writes its summary line.
stop_zion() {
    kill -TERM "$1"
    wait "$1" 2>/dev/null || true
}

# The summary line a stopped Zion runner wrote to LOG.
zion_summary() {
    grep 'zion proxy served' "$1" || echo 'zion proxy printed no summary'
}

# Prints one row of the report: LABEL and the medians of target NAME.
row() {
    local label=$1 file="$WORK/result-$2.txt" bad
    bad="$(awk '{ s += $4 } END { print s + 0 }' "$file")"
    printf '%-34s %12.0f %10.3f %10.3f %10d\n' "$label" \
        "$(median "$file" 1)" "$(median "$file" 2)" "$(median "$file" 3)" "$bad"
}

# Prints "WHAT: throughput Rx, p99 latency Px" for target A over target B.
ratio() {
    awk -v what="$1" -v ar="$(median "$WORK/result-$2.txt" 1)" -v br="$(median "$WORK/result-$3.txt" 1)" \
        -v ap="$(median "$WORK/result-$2.txt" 3)" -v bp="$(median "$WORK/result-$3.txt" 3)" 'BEGIN {
        printf "%s: throughput %.2fx, p99 latency %.2fx (lower is better)\n", what, ar / br, ap / bp
    }'
}

header() {
    echo
    echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; split $STABLE_WEIGHT/$WEIGHT; median of $ROUNDS rounds"
    printf '%-34s %12s %10s %10s %10s\n' target "requests/s" "p50 ms" "p99 ms" "non-2xx"
}

MEASURING="measuring: $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency per target"
log "warming up each target for $WARMUP"
if [ "$MODE" = nginx ]; then
    for url in "http://$STABLE/" "http://127.0.0.1:$NGINX_PORT/" "http://$ZION/"; do
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    done
    log "$MEASURING"
    for round in $(seq 1 "$ROUNDS"); do
        run direct "http://$STABLE/" "$round"
        run nginx "http://127.0.0.1:$NGINX_PORT/" "$round"
        run zion "http://$ZION/" "$round"
    done
    # Stop Zion's proxy to read how it split the traffic it served.
    stop_zion "$ZION_PID"
    SPLIT="$(zion_summary "$WORK/proxy.log")"

    header
    row "backend direct" direct
    row "nginx $STABLE_WEIGHT/$WEIGHT" nginx
    row "zion $STABLE_WEIGHT/$WEIGHT" zion
    ratio "zion / nginx" zion nginx
    echo "$SPLIT"
else
    COOKIE="Cookie: zion_version=stable"
    for url in "http://$PLAIN/" "http://$FEATURES/" "http://$MIRROR/"; do
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    done
    log "$MEASURING"
    for round in $(seq 1 "$ROUNDS"); do
        run plain "http://$PLAIN/" "$round"
        run sticky-new "http://$FEATURES/" "$round"
        run sticky-pinned "http://$FEATURES/" "$round" -H "$COOKIE"
        run mirror "http://$MIRROR/" "$round"
    done
    # A new client must have been answered with the cookie, and the split
    # must still be the configured one.
    NEW_CLIENT_COOKIE="$(exec 3<>"/dev/tcp/${FEATURES%:*}/${FEATURES##*:}" &&
        printf 'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3 &&
        tr -d '\r' <&3 | grep -i '^set-cookie:' || true)"
    [ -n "$NEW_CLIENT_COOKIE" ] || die "the sticky proxy answered a new client without a Set-Cookie"
    stop_zion "$PLAIN_PID"
    stop_zion "$FEATURES_PID"
    stop_zion "$MIRROR_PID"
    PLAIN_SPLIT="$(zion_summary "$WORK/plain.log")"
    FEATURES_SPLIT="$(zion_summary "$WORK/features.log")"
    MIRROR_SPLIT="$(zion_summary "$WORK/mirror.log")"

    header
    row "zion $STABLE_WEIGHT/$WEIGHT plain" plain
    row "zion sticky+rule, new clients" sticky-new
    row "zion sticky+rule, pinned clients" sticky-pinned
    row "zion mirror 100% to a ${SLOW_MS} ms canary" mirror
    ratio "sticky+rule (new clients) / plain" sticky-new plain
    ratio "sticky+rule (pinned clients) / plain" sticky-pinned plain
    ratio "mirror to a slow canary / plain" mirror plain
    echo "new client answered with: $NEW_CLIENT_COOKIE"
    echo "plain:       $PLAIN_SPLIT"
    echo "sticky+rule: $FEATURES_SPLIT"
    echo "mirror:      $MIRROR_SPLIT"
fi
