#!/usr/bin/env bash
# Compares Zion's built-in proxy with nginx on this machine (MODE=nginx, the
# default), or Zion's plain split with the same split plus routing features
# (MODE=features).
#
# One fast backend process serves "200 ok" on two ports (the "stable" and
# "canary" versions); nginx and Zion both split 95/5 between them with
# keep-alive connections and add the same forwarding headers. In one run:
#   MODE=nginx
#     1. HTTP/1.1 in clear text (wrk) at each of CONNECTION_COUNTS: the
#        backend directly (the ceiling), nginx, Zion;
#     2. HTTP/1.1 over TLS 1.3 (wrk) at TLS_CONNECTIONS: nginx and Zion
#        with the same certificate (an ECDSA P-256 one made by this script
#        with openssl) and the same cipher suite (TLS_SUITE: the only one
#        the client offers, and nginx's only one);
#     3. HTTP/2 (h2load) at H2_CONNECTIONS connections of H2_STREAMS
#        streams each: h2c with prior knowledge, and h2 over TLS (ALPN),
#        to nginx and to Zion;
#     4. gRPC unary calls (bench_grpc, a Rust client and server framing
#        the messages by hand): directly to the server, through nginx
#        (grpc_pass) and through Zion (h2c to the server);
#     5. instructions per request (callgrind): nginx (one process, master
#        off) and Zion each serve CALLGRIND_REQUESTS keep-alive HTTP/1.1
#        requests from one client after a warm-up; the counters are zeroed
#        after the warm-up and read after the requests.
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
# (Zion to nginx, or features to plain), then one summary table. This is a
# benchmark for people, not a test: numbers depend on the machine, and the
# load generator, the proxy and the backend share its cores. The targets are
# measured in turn for ROUNDS rounds and each figure is the median, so a
# burst of other work on the machine skews one round, not the comparison.
# Instruction counts do not depend on the machine's load: they are the
# figure to compare changes by.
#
# Tunables (environment): MODE (nginx|features), DURATION (10s), WARMUP (2s),
# ROUNDS (3), CONNECTIONS (64, MODE=features), CONNECTION_COUNTS ("64 1024",
# MODE=nginx), TLS_CONNECTIONS (64), TLS_SUITE (TLS_AES_128_GCM_SHA256),
# H2_CONNECTIONS (64), H2_STREAMS (10), GRPC_CONNECTIONS (8), GRPC_STREAMS
# (8), CALLGRIND_REQUESTS (20000; 0 skips callgrind), CALLGRIND_KEEP (a
# directory to keep the callgrind profiles in, for callgrind_annotate),
# THREADS (2), WEIGHT (5, the canary percent), SLOW_MS (300, the mirrored
# canary's answer time in MODE=features), SKIP_BUILD (1: run the examples
# built before, without cargo).
# A quick check: DURATION=3s WARMUP=1s ROUNDS=1 CALLGRIND_REQUESTS=2000.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WEIGHT=${WEIGHT:-5}
SLOW_MS=${SLOW_MS:-300}
CONNECTION_COUNTS=${CONNECTION_COUNTS:-64 1024}
TLS_CONNECTIONS=${TLS_CONNECTIONS:-64}
TLS_SUITE=${TLS_SUITE:-TLS_AES_128_GCM_SHA256}
H2_CONNECTIONS=${H2_CONNECTIONS:-64}
H2_STREAMS=${H2_STREAMS:-10}
GRPC_CONNECTIONS=${GRPC_CONNECTIONS:-8}
GRPC_STREAMS=${GRPC_STREAMS:-8}
CALLGRIND_REQUESTS=${CALLGRIND_REQUESTS:-20000}
CALLGRIND_KEEP=${CALLGRIND_KEEP:-}
MODE=${MODE:-nginx}
case $MODE in nginx | features) ;; *) printf 'error: MODE must be nginx or features, not %s\n' "$MODE" >&2; exit 2 ;; esac
STABLE_WEIGHT=$((100 - WEIGHT))
# nginx keeps as many idle backend connections as the most clients.
KEEPALIVE=64
for c in $CONNECTIONS $CONNECTION_COUNTS $TLS_CONNECTIONS $H2_CONNECTIONS; do
    if [ "$c" -gt "$KEEPALIVE" ]; then KEEPALIVE=$c; fi
done

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
if [ "$MODE" = nginx ]; then
    [ -n "$(find_nginx)" ] || missing+=(nginx)
    command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    if [ "$CALLGRIND_REQUESTS" -gt 0 ]; then
        command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    fi
fi
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
if [ "$MODE" = nginx ]; then
    [ -n "$NGINX" ] || die "nginx is still not installed"
    command -v h2load >/dev/null 2>&1 || die "h2load (nghttp2-client) is still not installed"
fi
command -v wrk >/dev/null 2>&1 || die "wrk is still not installed"
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"

if [ "${SKIP_BUILD:-0}" = 1 ]; then
    log "using the examples built before in $EXAMPLES"
else
    log "building the backend, the proxy runner and the gRPC bench (release)"
    (cd "$ROOT" && cargo build --release --quiet -p zion-proxy --example bench_backend --example bench_proxy --example bench_grpc)
fi

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

# Waits until something accepts on 127.0.0.1:PORT, at most TRIES (200)
# times 50 ms.
wait_port() {
    local port=$1 tries=${2:-200} i
    for i in $(seq 1 "$tries"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    die "nothing listens on 127.0.0.1:$port"
}

# Sets the variable named VAR to a port on 127.0.0.1 nothing listens on,
# never one handed out before in this run (nothing may listen on it yet).
NEXT_PORT=18080
free_port() {
    local port
    for port in $(seq "$NEXT_PORT" 18999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            NEXT_PORT=$((port + 1))
            printf -v "$1" '%s' "$port"
            return 0
        fi
    done
    die "no free port in $NEXT_PORT-18999"
}

"$EXAMPLES/bench_backend" --slow "$SLOW_MS" >"$WORK/backend.addrs" 2>"$WORK/backend.log" &
PIDS+=($!)
wait_lines "$WORK/backend.addrs" 3 "$!" || { cat "$WORK/backend.log" >&2; die "the backend did not start"; }
STABLE="$(sed -n 1p "$WORK/backend.addrs")"
CANARY="$(sed -n 2p "$WORK/backend.addrs")"
SLOW="$(sed -n 3p "$WORK/backend.addrs")"
log "backend: stable $STABLE, canary $CANARY, slow canary ($SLOW_MS ms) $SLOW"

# Writes an nginx configuration to DIR/nginx.conf: MAIN (directives of the
# main context), then an http block with the 95/5 upstream, the gRPC
# upstream when GRPC_SERVER is set, and SERVERS (server blocks).
nginx_conf() {
    local dir=$1 main=$2 servers=$3
    mkdir -p "$dir"
    {
        # Running as root, nginx would switch its workers to "nobody".
        if [ "$(id -u)" -eq 0 ]; then echo "user $(id -un) $(id -gn);"; fi
        cat <<EOF
$main
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    # nginx closes a client connection after 1,000 requests by default (an
    # HTTP/2 one with a GOAWAY, which h2load and the gRPC client do not
    # reconnect after) and Zion never does: as Zion, here.
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream backends {
        server $STABLE weight=$STABLE_WEIGHT;
        server $CANARY weight=$WEIGHT;
        # As many idle connections to the backends as clients, as Zion's
        # pool keeps: with fewer, nginx opens and closes a backend
        # connection for most requests at high connection counts.
        keepalive $KEEPALIVE;
        # And the same to the backends (1,000 by default).
        keepalive_requests 1000000;
    }
EOF
        if [ -n "${GRPC_SERVER:-}" ]; then
            cat <<EOF
    upstream grpc_server {
        server $GRPC_SERVER;
        keepalive $KEEPALIVE;
        keepalive_requests 1000000;
    }
EOF
        fi
        printf '%s\n}\n' "$servers"
    } >"$dir/nginx.conf"
}

# One server block on LISTEN (nginx's listen parameters) proxying to the
# backends as Zion does; the TLS lines matter only on an ssl port.
nginx_proxy_server() {
    cat <<EOF
    server {
        # As deep an accept queue as Zion's (4,096; nginx's
        # default is 511).
        listen $1 backlog=4096;
        ssl_certificate $WORK/tls/cert.pem;
        ssl_certificate_key $WORK/tls/key.pem;
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites $TLS_SUITE;
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
EOF
}

# Checks the configuration in DIR, then runs nginx on it in the background
# (under the command PREFIX..., if any); sets NGINX_PID.
run_nginx() {
    local dir=$1
    shift
    "$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        || die "nginx rejected the generated config $dir/nginx.conf"
    "$@" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
}

# nginx for the timed runs: HTTP/1.1, TLS (HTTP/1.1 and h2 by ALPN), h2c,
# and gRPC on a port each.
start_nginx() {
    free_port NGINX_PORT
    free_port NGINX_TLS_PORT
    free_port NGINX_H2C_PORT
    free_port NGINX_GRPC_PORT
    # nginx 1.22 takes "http2" as a listen parameter (1.25 as "http2 on;"):
    # on a port without ssl it is h2c with prior knowledge.
    nginx_conf "$WORK/nginx" "worker_processes auto;
daemon off;" "$(nginx_proxy_server "127.0.0.1:$NGINX_PORT")
$(nginx_proxy_server "127.0.0.1:$NGINX_TLS_PORT ssl http2")
$(nginx_proxy_server "127.0.0.1:$NGINX_H2C_PORT http2")
    server {
        listen 127.0.0.1:$NGINX_GRPC_PORT http2 backlog=4096;
        location / { grpc_pass grpc://grpc_server; }
    }"
    run_nginx "$WORK/nginx"
    local port
    for port in "$NGINX_PORT" "$NGINX_TLS_PORT" "$NGINX_H2C_PORT" "$NGINX_GRPC_PORT"; do
        wait_port "$port"
    done
    log "nginx ($("$NGINX" -v 2>&1 | sed 's/.*version: //')): http 127.0.0.1:$NGINX_PORT, tls $NGINX_TLS_PORT, h2c $NGINX_H2C_PORT, grpc $NGINX_GRPC_PORT"
}

# Starts a Zion proxy runner with the split and any further FLAGS; sets
# ZION_ADDR and ZION_PID. RUN_UNDER (an array, empty by default) is a
# command prefix, e.g. valgrind's.
RUN_UNDER=()
start_zion() {
    local name=$1
    shift
    "${RUN_UNDER[@]}" "$EXAMPLES/bench_proxy" --stable "$STABLE" --canary "$CANARY" --weight "$WEIGHT" "$@" \
        >"$WORK/$name.addr" 2>"$WORK/$name.log" &
    ZION_PID=$!
    PIDS+=("$ZION_PID")
    # Under valgrind a start can take longer than wait_lines waits.
    for _ in 1 2 3 4 5 6; do
        wait_lines "$WORK/$name.addr" 1 "$ZION_PID" && break
    done
    [ -s "$WORK/$name.addr" ] || { cat "$WORK/$name.log" >&2; die "zion's proxy ($name) did not start"; }
    ZION_ADDR="$(sed -n 1p "$WORK/$name.addr")"
    log "zion proxy ($name${*:+: $*}): $ZION_ADDR"
}

# --- measurements ------------------------------------------------------------
# wrk and h2load print latencies as 812.00us, 1.23ms, 1.02s or 1.50m; all
# become ms.
AWK_MS='
    function ms(v) {
        if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
        if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
        if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
        if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
        return v + 0
    }'

# wrk's output as one row: requests/s, p50 ms, p99 ms, non-2xx.
summarise() {
    awk "$AWK_MS"'
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END { printf "%s %s %s %d\n", rps, p50, p99, bad + 0 }
    ' "$1"
}

# h2load's output as one row: requests/s, mean ms (h2load reports no
# percentiles), "nan" for p99, requests not answered 2xx.
summarise_h2load() {
    awk "$AWK_MS"'
        /^finished in/ { rps = $4 }
        # requests: T total, S started, D done, K succeeded, F failed, ...
        /^requests:/ { answered = $8; failed = $10 }
        /^status codes:/ { twoxx = $3 }
        # time for request: MIN MAX MEAN SD +/-SD
        /^time for request:/ { mean = ms($6) }
        # A response still in progress at the end can count as 2xx and not
        # yet as succeeded.
        END { printf "%s %s nan %d\n", rps, mean, failed + (answered > twoxx ? answered - twoxx : 0) }
    ' "$1"
}

# Logs round ROUND of target NAME (the last row of its results).
logged() {
    local rps p99
    read -r rps _ p99 _ < <(tail -n 1 "$WORK/result-$1.txt")
    log "round $2 $1: $rps requests/s, p99 $p99 ms"
}

# Measures URL with wrk at CONNS connections as target NAME, round ROUND;
# further arguments go to wrk.
CONNS=$CONNECTIONS
run() {
    local name=$1 url=$2 round=$3
    shift 3
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" >"$WORK/wrk-$name-$round.txt"
    if grep -q "Socket errors" "$WORK/wrk-$name-$round.txt"; then
        log "$name: $(grep 'Socket errors' "$WORK/wrk-$name-$round.txt" | sed 's/^ *//')"
    fi
    summarise "$WORK/wrk-$name-$round.txt" >>"$WORK/result-$name.txt"
    logged "$name" "$round"
}

# Measures URL with h2load (HTTP/2) as target NAME, round ROUND.
run_h2() {
    local name=$1 url=$2 round=$3
    h2load -t"$THREADS" -c"$H2_CONNECTIONS" -m"$H2_STREAMS" -D"$DURATION" --warm-up-time=1s \
        --tls13-ciphers="$TLS_SUITE" "$url" >"$WORK/h2load-$name-$round.txt" 2>&1 \
        || { cat "$WORK/h2load-$name-$round.txt" >&2; die "h2load failed on $url"; }
    summarise_h2load "$WORK/h2load-$name-$round.txt" >>"$WORK/result-$name.txt"
    logged "$name" "$round"
}

# DURATION (10s, 1m) in whole seconds.
seconds() {
    case $1 in
        *m) echo $((${1%m} * 60)) ;;
        *s) echo "${1%s}" ;;
        *) echo "$1" ;;
    esac
}

# Measures gRPC unary calls to ADDR as target NAME, round ROUND.
run_grpc() {
    local name=$1 addr=$2 round=$3
    "$EXAMPLES/bench_grpc" call "$addr" --connections "$GRPC_CONNECTIONS" --streams "$GRPC_STREAMS" \
        --duration "$(seconds "$DURATION")" --warmup 1 >>"$WORK/result-$name.txt" \
        || die "the gRPC client failed against $addr"
    logged "$name" "$round"
}

# The median of column COL of FILE (numbers, one row per round).
median() {
    sort -g -k"$2","$2" "$1" | awk -v col="$2" '{ v[NR] = $col } END {
        if (v[1] == "nan") { print "nan"; exit }
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

# One row of a report: LABEL, the medians of target NAME, and when BASE is
# given, NAME's throughput and p99 over BASE's (its reference: nginx, or
# the plain proxy).
row() {
    local label=$1 file="$WORK/result-$2.txt" base=${3:-} bad
    bad="$(awk '{ s += $4 } END { print s + 0 }' "$file")"
    local rps p50 p99 brps="" bp99=""
    rps="$(median "$file" 1)" p50="$(median "$file" 2)" p99="$(median "$file" 3)"
    if [ -n "$base" ]; then
        brps="$(median "$WORK/result-$base.txt" 1)" bp99="$(median "$WORK/result-$base.txt" 3)"
    fi
    awk -v label="$label" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v bad="$bad" \
        -v brps="$brps" -v bp99="$bp99" 'BEGIN {
        line = sprintf("%-40s %10.0f %9.3f", label, rps, p50)
        line = line (p99 == "nan" ? sprintf(" %9s", "-") : sprintf(" %9.3f", p99))
        line = line sprintf(" %8d", bad)
        if (brps != "") {
            line = line sprintf(" %8.2fx", rps / brps)
            line = line (p99 == "nan" || bp99 == "nan" ? sprintf(" %8s", "-") : sprintf(" %8.2fx", p99 / bp99))
        }
        print line
    }'
}

header() {
    printf '%-40s %10s %9s %9s %8s %9s %9s\n' target "req/s" "p50 ms" "p99 ms" non-2xx "req/s÷" "p99÷"
}

# Instructions per request of a server on 127.0.0.1:PORT running under
# callgrind as PID: a warm-up, the counters zeroed, CALLGRIND_REQUESTS
# keep-alive requests from one client, the counters dumped and divided.
# NAME names the profile. Prints the figure.
instructions_per_request() {
    local name=$1 port=$2 pid=$3 out dump total
    out="$WORK/callgrind-$name"
    h2load --h1 -n 1000 -c 1 "http://127.0.0.1:$port/" >/dev/null 2>&1 || die "the warm-up of $name failed"
    callgrind_control -z "$pid" >/dev/null 2>&1 || die "callgrind_control could not reach $name"
    h2load --h1 -n "$CALLGRIND_REQUESTS" -c 1 "http://127.0.0.1:$port/" >"$out.h2load" 2>&1
    grep -q "^requests: $CALLGRIND_REQUESTS total, $CALLGRIND_REQUESTS started, $CALLGRIND_REQUESTS done, $CALLGRIND_REQUESTS succeeded" "$out.h2load" \
        || { cat "$out.h2load" >&2; die "not every request to $name succeeded under callgrind"; }
    callgrind_control -d "$pid" >/dev/null 2>&1 || die "callgrind_control could not dump $name"
    dump="$(ls -t "$out".*.[0-9]* 2>/dev/null | head -n 1)"
    [ -n "$dump" ] || die "callgrind wrote no dump for $name"
    if [ -n "$CALLGRIND_KEEP" ]; then mkdir -p "$CALLGRIND_KEEP" && cp "$dump" "$CALLGRIND_KEEP/callgrind.out.$name"; fi
    total="$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    awk -v t="$total" -v n="$CALLGRIND_REQUESTS" 'BEGIN { printf "%.0f\n", t / n }'
}

# The TLS 1.3 cipher suite a server on 127.0.0.1:PORT settles on with a
# client configured as wrk is (CLIENT_CONF).
negotiated_suite() {
    OPENSSL_CONF="$CLIENT_CONF" openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
        awk '/Cipher is/ { print $NF; exit }'
}

# The header rule of the features run: no request of wrk carries it.
RULE_HEADER=x-zion-bench
if [ "$MODE" = nginx ]; then
    # One certificate for both servers; wrk (OpenSSL) offers only TLS_SUITE
    # through its configuration, and nginx accepts only that suite.
    mkdir -p "$WORK/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>"$WORK/tls/openssl.log" \
        || { cat "$WORK/tls/openssl.log" >&2; die "openssl could not make the certificate"; }
    CLIENT_CONF="$WORK/tls/client.cnf"
    cat >"$CLIENT_CONF" <<EOF
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = $TLS_SUITE
EOF
    "$EXAMPLES/bench_grpc" serve >"$WORK/grpc.addr" 2>"$WORK/grpc.log" &
    PIDS+=($!)
    wait_lines "$WORK/grpc.addr" 1 "$!" || { cat "$WORK/grpc.log" >&2; die "the gRPC server did not start"; }
    GRPC_SERVER="$(sed -n 1p "$WORK/grpc.addr")"
    log "gRPC server: $GRPC_SERVER"

    start_nginx
    # HTTP/1.1 and h2c on one listener, as a target's.
    start_zion proxy
    ZION="$ZION_ADDR"
    ZION_HTTP_PID=$ZION_PID
    start_zion proxy-tls --tls-cert "$WORK/tls/cert.pem" --tls-key "$WORK/tls/key.pem"
    ZION_TLS="$ZION_ADDR"
    ZION_TLS_PID=$ZION_PID
    start_zion proxy-grpc --stable "$GRPC_SERVER" --canary "$GRPC_SERVER" --upstream h2c
    ZION_GRPC="$ZION_ADDR"
    ZION_GRPC_PID=$ZION_PID
    NGINX_SUITE="$(negotiated_suite "$NGINX_TLS_PORT")"
    ZION_SUITE="$(negotiated_suite "${ZION_TLS##*:}")"
    [ "$NGINX_SUITE" = "$TLS_SUITE" ] && [ "$ZION_SUITE" = "$TLS_SUITE" ] \
        || die "TLS suites differ from $TLS_SUITE: nginx ${NGINX_SUITE:-none}, zion ${ZION_SUITE:-none}"

    log "warming up each target for $WARMUP"
    for url in "http://$STABLE/" "http://127.0.0.1:$NGINX_PORT/" "http://$ZION/"; do
        wrk -t"$THREADS" -c64 -d"$WARMUP" "$url" >/dev/null
    done
    export OPENSSL_CONF="$CLIENT_CONF"
    for url in "https://127.0.0.1:$NGINX_TLS_PORT/" "https://$ZION_TLS/"; do
        wrk -t"$THREADS" -c64 -d"$WARMUP" "$url" >/dev/null
    done
    unset OPENSSL_CONF

    for round in $(seq 1 "$ROUNDS"); do
        log "round $round of $ROUNDS"
        for CONNS in $CONNECTION_COUNTS; do
            run "direct-$CONNS" "http://$STABLE/" "$round"
            run "nginx-$CONNS" "http://127.0.0.1:$NGINX_PORT/" "$round"
            run "zion-$CONNS" "http://$ZION/" "$round"
        done
        CONNS=$TLS_CONNECTIONS
        export OPENSSL_CONF="$CLIENT_CONF"
        run nginx-tls "https://127.0.0.1:$NGINX_TLS_PORT/" "$round"
        run zion-tls "https://$ZION_TLS/" "$round"
        run_h2 nginx-h2-tls "https://127.0.0.1:$NGINX_TLS_PORT/" "$round"
        run_h2 zion-h2-tls "https://$ZION_TLS/" "$round"
        unset OPENSSL_CONF
        run_h2 nginx-h2c "http://127.0.0.1:$NGINX_H2C_PORT/" "$round"
        run_h2 zion-h2c "http://$ZION/" "$round"
        run_grpc grpc-direct "$GRPC_SERVER" "$round"
        run_grpc grpc-nginx "127.0.0.1:$NGINX_GRPC_PORT" "$round"
        run_grpc grpc-zion "$ZION_GRPC" "$round"
    done
    # Stop Zion's proxies to read how they split the traffic they served.
    stop_zion "$ZION_HTTP_PID"
    stop_zion "$ZION_TLS_PID"
    stop_zion "$ZION_GRPC_PID"
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true

    if [ "$CALLGRIND_REQUESTS" -gt 0 ]; then
        log "instructions per request: $CALLGRIND_REQUESTS keep-alive requests from one client under callgrind"
        free_port NGINX_CG_PORT
        nginx_conf "$WORK/nginx-cg" "master_process off;
daemon off;
worker_processes 1;" "$(nginx_proxy_server "127.0.0.1:$NGINX_CG_PORT")"
        run_nginx "$WORK/nginx-cg" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind-nginx.%p" -q
        # Slow to start under valgrind on a busy machine.
        wait_port "$NGINX_CG_PORT" 1200
        NGINX_IPR="$(instructions_per_request nginx "$NGINX_CG_PORT" "$NGINX_PID")"
        RUN_UNDER=(valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind-zion.%p" -q)
        start_zion proxy-cg
        RUN_UNDER=()
        ZION_IPR="$(instructions_per_request zion "${ZION_ADDR##*:}" "$ZION_PID")"
    fi

    echo
    echo "machine: $(nproc) cores; split $STABLE_WEIGHT/$WEIGHT; median of $ROUNDS rounds of $DURATION each"
    echo "HTTP/1.1: wrk -t$THREADS at $CONNECTION_COUNTS connections; TLS: wrk at $TLS_CONNECTIONS, TLS 1.3 $TLS_SUITE (nginx $NGINX_SUITE, zion $ZION_SUITE), one ECDSA P-256 certificate"
    echo "HTTP/2: h2load -t$THREADS -c$H2_CONNECTIONS -m$H2_STREAMS (p50 column: mean, h2load gives no percentiles); gRPC: $GRPC_CONNECTIONS connections x $GRPC_STREAMS streams of unary calls"
    echo "ratios (÷): zion over nginx (gRPC through a proxy: over direct calls); req/s higher is better, p99 lower"
    header
    for c in $CONNECTION_COUNTS; do
        row "HTTP/1.1 c$c backend direct" "direct-$c"
        row "HTTP/1.1 c$c nginx" "nginx-$c"
        row "HTTP/1.1 c$c zion" "zion-$c" "nginx-$c"
    done
    row "HTTPS/1.1 c$TLS_CONNECTIONS nginx" nginx-tls
    row "HTTPS/1.1 c$TLS_CONNECTIONS zion" zion-tls nginx-tls
    row "h2c c$H2_CONNECTIONS m$H2_STREAMS nginx" nginx-h2c
    row "h2c c$H2_CONNECTIONS m$H2_STREAMS zion" zion-h2c nginx-h2c
    row "h2 TLS c$H2_CONNECTIONS m$H2_STREAMS nginx" nginx-h2-tls
    row "h2 TLS c$H2_CONNECTIONS m$H2_STREAMS zion" zion-h2-tls nginx-h2-tls
    row "gRPC unary direct" grpc-direct
    row "gRPC unary via nginx" grpc-nginx grpc-direct
    row "gRPC unary via zion" grpc-zion grpc-direct
    echo "gRPC via zion over via nginx: $(awk -v a="$(median "$WORK/result-grpc-zion.txt" 1)" -v b="$(median "$WORK/result-grpc-nginx.txt" 1)" \
        -v ap="$(median "$WORK/result-grpc-zion.txt" 3)" -v bp="$(median "$WORK/result-grpc-nginx.txt" 3)" \
        'BEGIN { printf "calls/s %.2fx, p99 %.2fx", a / b, ap / bp }')"
    if [ "$CALLGRIND_REQUESTS" -gt 0 ]; then
        awk -v n="$NGINX_IPR" -v z="$ZION_IPR" -v r="$CALLGRIND_REQUESTS" 'BEGIN {
            printf "instructions per request (callgrind, %d keep-alive HTTP/1.1 requests, one client): nginx %d, zion %d, zion/nginx %.2fx\n", r, n, z, z / n
        }'
    fi
    echo "HTTP/1.1 $(zion_summary "$WORK/proxy.log")"
    echo "gRPC     $(zion_summary "$WORK/proxy-grpc.log")"
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

    COOKIE="Cookie: zion_version=stable"
    # The mirror's warm-up first: its copies to the slow canary are still
    # finishing after it, and must not fall into a measured run.
    for url in "http://$MIRROR/" "http://$FEATURES/" "http://$PLAIN/"; do
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    done
    log "measuring: $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency per target"
    for round in $(seq 1 "$ROUNDS"); do
        run plain "http://$PLAIN/" "$round"
        run sticky-new "http://$FEATURES/" "$round"
        run sticky-pinned "http://$FEATURES/" "$round" -H "$COOKIE"
        run mirror "http://$MIRROR/" "$round"
        # As after the warm-up: the copies in flight finish (the slow
        # canary answers in SLOW_MS) before the next round's first run.
        sleep 1
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

    echo
    echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; split $STABLE_WEIGHT/$WEIGHT; median of $ROUNDS rounds"
    echo "ratios (÷): over the plain split; req/s higher is better, p99 lower"
    header
    row "zion $STABLE_WEIGHT/$WEIGHT plain" plain
    row "zion sticky+rule, new clients" sticky-new plain
    row "zion sticky+rule, pinned clients" sticky-pinned plain
    row "zion mirror 100% to a ${SLOW_MS} ms canary" mirror plain
    echo "new client answered with: $NEW_CLIENT_COOKIE"
    echo "plain:       $(zion_summary "$WORK/plain.log")"
    echo "sticky+rule: $(zion_summary "$WORK/features.log")"
    echo "mirror:      $(zion_summary "$WORK/mirror.log")"
fi
