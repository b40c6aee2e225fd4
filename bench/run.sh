#!/usr/bin/env bash
# `make bench`: Tollgate's overhead against a direct connection and against nginx.
#
# Starts build/mock_upstream, Debian's nginx (a keep-alive reverse proxy to the mock) and
# Tollgate (configured through its Admin API to route gpt-4o-mini to the mock), then drives
# each with wrk (bench/post.lua) and writes a table with ratios to build/bench-results.md.
# Everything it starts is stopped on exit. Exit status: 0 when every stage worked and every
# response was 2xx, 1 otherwise. See docs/benchmarks.md for the method.
#
# Environment (all optional):
#   BENCH_DURATION=10s         measured run length (wrk -d)
#   BENCH_WARMUP=2s            warm-up before each measured run ("0" to skip)
#   BENCH_CONNECTIONS=64       connections of the throughput runs (wrk -c)
#   BENCH_WRK_THREADS=2        wrk threads of the throughput runs (wrk -t)
#   BENCH_JSON=1               run the non-streaming throughput comparison ("0" to skip)
#   BENCH_STREAM=1             run the streaming (SSE) comparison ("0" to skip)
#   BENCH_LATENCY=1            also run the one-connection latency comparison ("0" to skip)
#   BENCH_NGINX_WORKERS=auto   nginx worker_processes
#   BENCH_MOCK_THREADS=1       mock_upstream --threads
#   BENCH_TOLLGATE_ARGS=       extra arguments for `tollgate serve`
#   BENCH_DB=sqlite            Tollgate's database: sqlite (a temp file), or postgres (a private
#                              server started by tools/pg_test_server.sh; durable: fsync stays off)
#   BENCH_TOLLGATE_SETUP=      a script run after Tollgate is configured, with TG_URL,
#                              TG_ADMIN_KEY, TG_PROJECT_ID, TG_API_KEY in its environment
#   BENCH_SKIP_TOLLGATE=0      "1": measure direct and nginx only (exit status still 0)
#   BENCH_KEEP=0               "1": keep the temp dir (logs, configs, raw wrk output)
#   BENCH_RESULTS=build/bench-results.md
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR="$ROOT/build"
MOCK_BIN="$BUILD_DIR/mock_upstream"
TOLLGATE_BIN="$BUILD_DIR/tollgate"
LUA="$ROOT/bench/post.lua"
NGINX_TEMPLATE="$ROOT/bench/nginx.conf.in"
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
DO_JSON=${BENCH_JSON:-1}
DO_STREAM=${BENCH_STREAM:-1}
DO_LATENCY=${BENCH_LATENCY:-1}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
MOCK_THREADS=${BENCH_MOCK_THREADS:-1}
TOLLGATE_ARGS=${BENCH_TOLLGATE_ARGS:-}
TOLLGATE_SETUP=${BENCH_TOLLGATE_SETUP:-}
SKIP_TOLLGATE=${BENCH_SKIP_TOLLGATE:-0}
KEEP=${BENCH_KEEP:-0}
RESULTS=${BENCH_RESULTS:-$BUILD_DIR/bench-results.md}

# bench/post.lua reads these; the harness sets them per run, so clear any from the caller.
unset BENCH_BODY BENCH_PATH BENCH_KEY

MODEL=gpt-4o-mini
UPSTREAM_KEY=sk-upstream-bench
CHAT_BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
STREAM_BODY='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

FAILURES=()
fail() { log "FAILED: $*"; FAILURES+=("$*"); }

# ---- process management --------------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX") || die "mktemp"
PIDS=()

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$? pid i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${PG_DIR:-}" ]; then "$ROOT/tools/pg_test_server.sh" stop "$PG_DIR" || true; fi
    if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$@" in the background, stdout/stderr to $TMP/NAME.{out,err}; sets LAST_PID.
start_bg() {
    local name=$1; shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# wait_for_match FILE REGEX PID SECONDS: waits until FILE has a line matching REGEX.
wait_for_match() {
    local file=$1 re=$2 pid=$3 secs=$4 i
    for ((i = 0; i < secs * 10; i++)); do
        grep -Eq "$re" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
    local port=$1 pid=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        port_open "$port" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

USED_PORTS=" "
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        if ! port_open "$p"; then USED_PORTS+="$p "; echo "$p"; return 0; fi
    done
    return 1
}

show_log() { # show_log FILE: the tail of a log, indented, to stderr
    [ -s "$1" ] && tail -n 20 "$1" | awk '{ print "    | " $0 }' >&2
    return 0
}

# json_get FILE EXPR: prints o<EXPR> of the JSON in FILE (node), e.g. '.id', '.data[0].id'.
json_get() {
    node -e '
        const fs = require("fs");
        let o; try { o = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { process.exit(1); }
        let v; try { v = new Function("o", "return o" + process.argv[2])(o); } catch { process.exit(1); }
        if (v === undefined || v === null) process.exit(1);
        process.stdout.write(typeof v === "object" ? JSON.stringify(v) : String(v));
    ' "$1" "$2"
}

# ---- prerequisites -------------------------------------------------------------------

command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v curl >/dev/null || die "curl not found"
[ -x "$NGINX_BIN" ] || die "$NGINX_BIN not found (apt-get install nginx-light)"
[ -f "$LUA" ] || die "$LUA missing"
if [ ! -x "$MOCK_BIN" ] || [ "$ROOT/bench/mock_upstream.c" -nt "$MOCK_BIN" ]; then
    log "building $MOCK_BIN"
    make -C "$ROOT" --no-print-directory build/mock_upstream >&2 || die "cannot build mock_upstream"
fi
NCPU=$(nproc 2>/dev/null || echo '?')

# ---- 1. mock upstream ----------------------------------------------------------------

start_bg mock "$MOCK_BIN" --listen 127.0.0.1:0 --threads "$MOCK_THREADS" --latency-ms 0
MOCK_PID=$LAST_PID
wait_for_match "$TMP/mock.out" '^listening on [0-9]+$' "$MOCK_PID" 10 ||
    { show_log "$TMP/mock.err"; die "mock_upstream did not start"; }
MOCK_PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$TMP/mock.out" | head -n 1)
MOCK_URL="http://127.0.0.1:$MOCK_PORT"
log "mock_upstream (threads $MOCK_THREADS) on $MOCK_URL"

# ---- 2. nginx ------------------------------------------------------------------------

NGINX_PORT=$(free_port) || die "no free port"
NGINX_STREAM_PORT=$(free_port) || die "no free port"
mkdir -p "$TMP/nginx"
sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@WORKERS@|$NGINX_WORKERS|g" \
    -e "s|@MOCK_PORT@|$MOCK_PORT|g" -e "s|@PORT@|$NGINX_PORT|g" \
    -e "s|@STREAM_PORT@|$NGINX_STREAM_PORT|g" "$NGINX_TEMPLATE" >"$TMP/nginx/nginx.conf"
"$NGINX_BIN" -t -q -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx-test.log" 2>&1 || { show_log "$TMP/nginx-test.log"; die "nginx config test"; }
start_bg nginx "$NGINX_BIN" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"
NGINX_PID=$LAST_PID
{ wait_for_port "$NGINX_PORT" "$NGINX_PID" 10 && wait_for_port "$NGINX_STREAM_PORT" "$NGINX_PID" 10; } ||
    { show_log "$TMP/nginx.err"; show_log "$TMP/nginx/error.log"; die "nginx did not start"; }
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
NGINX_STREAM_URL="http://127.0.0.1:$NGINX_STREAM_PORT"
NGINX_VERSION=$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')
log "nginx $NGINX_VERSION (worker_processes $NGINX_WORKERS) on $NGINX_URL (SSE: $NGINX_STREAM_URL)"

# Sanity: the same request answers 200 directly and through nginx.
for url in "$MOCK_URL" "$NGINX_URL"; do
    code=$(curl -sS -o "$TMP/probe.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data "$CHAT_BODY" "$url/v1/chat/completions") || code=000
    [ "$code" = 200 ] || { show_log "$TMP/probe.json"; die "probe of $url answered $code"; }
done

# ---- 3. Tollgate ---------------------------------------------------------------------

TG_OK=0
TG_PID=""
TG_WORKERS=""
TG_URL=""
TG_KEY=""
TG_SERVE_CMD=""
# api METHOD PATH [BODY]: admin call; body to $TMP/api.json, status in $API_CODE; 0 on 2xx.
api() {
    local args=(-sS -o "$TMP/api.json" -w '%{http_code}' -X "$1"
        -H "Authorization: Bearer $TG_ADMIN_KEY" -H 'Content-Type: application/json')
    [ $# -ge 3 ] && args+=(--data "$3")
    API_CODE=$(curl "${args[@]}" "$TG_URL$2") || API_CODE=000
    [[ "$API_CODE" == 2?? ]]
}
api_fail() { fail "Tollgate: $1 answered HTTP $API_CODE"; show_log "$TMP/api.json"; }

setup_tollgate() {
    if [ ! -x "$TOLLGATE_BIN" ]; then
        fail "Tollgate: $TOLLGATE_BIN not built (run \`make all\`)"
        return 1
    fi
    DB_URL="sqlite:$TMP/bench.db"
    if [ "${BENCH_DB:-sqlite}" = postgres ]; then
        local out
        out=$("$ROOT/tools/pg_test_server.sh" start) || { fail "PostgreSQL did not start"; return 1; }
        DB_URL=${out% *}
        PG_DIR=${out#* }
        TOLLGATE_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        export TOLLGATE_SECRET_KEY
    fi
    "$TOLLGATE_BIN" init --db "$DB_URL" --json >"$TMP/init.json" 2>"$TMP/init.err" ||
        { fail "Tollgate: init failed"; show_log "$TMP/init.err"; return 1; }
    TG_ADMIN_KEY=$(json_get "$TMP/init.json" '.admin_key') ||
        { fail "Tollgate: init --json printed no admin_key"; show_log "$TMP/init.json"; return 1; }

    local port
    port=$(free_port) || { fail "no free port"; return 1; }
    # shellcheck disable=SC2086 # BENCH_TOLLGATE_ARGS is split on purpose
    TG_SERVE_CMD="tollgate serve --listen 127.0.0.1:$port --db ${BENCH_DB:-sqlite}${TOLLGATE_ARGS:+ $TOLLGATE_ARGS}"
    # shellcheck disable=SC2086
    start_bg tollgate "$TOLLGATE_BIN" serve --listen "127.0.0.1:$port" --db "$DB_URL" \
        $TOLLGATE_ARGS
    local pid=$LAST_PID
    TG_PID=$pid
    if ! wait_for_match "$TMP/tollgate.err" 'listening on http://' "$pid" 20 ||
        ! wait_for_port "$port" "$pid" 5; then
        fail "Tollgate: serve did not start"
        show_log "$TMP/tollgate.err"
        return 1
    fi
    TG_URL="http://127.0.0.1:$port"
    TG_WORKERS=$(sed -n 's/.*listening on http:[^(]*(\([0-9][0-9]*\) workers.*/\1/p' "$TMP/tollgate.err" | head -n 1)
    log "Tollgate on $TG_URL${TG_WORKERS:+ ($TG_WORKERS workers)}"

    api POST /v1/organization/providers "{\"name\":\"mock\",\"type\":\"openai_compatible\",\"base_url\":\"$MOCK_URL/v1\",\"api_key\":\"$UPSTREAM_KEY\",\"models\":[{\"model\":\"$MODEL\"}]}" ||
        { api_fail "POST /v1/organization/providers"; return 1; }
    api POST /v1/organization/projects '{"name":"bench"}' ||
        { api_fail "POST /v1/organization/projects"; return 1; }
    TG_PROJECT_ID=$(json_get "$TMP/api.json" '.id') ||
        { fail "Tollgate: project has no id"; show_log "$TMP/api.json"; return 1; }
    api POST "/v1/organization/projects/$TG_PROJECT_ID/api_keys" '{"name":"bench"}' ||
        { api_fail "POST /v1/organization/projects/$TG_PROJECT_ID/api_keys"; return 1; }
    TG_KEY=$(json_get "$TMP/api.json" '.value') ||
        { fail "Tollgate: API key has no value"; show_log "$TMP/api.json"; return 1; }

    # Best effort, so the load is not refused by quota or the project's rate limits: an
    # operator credit grant and the project's gpt-4o-mini limits raised. (Tier limits
    # still apply; if they bite, the run reports the 429s.)
    api POST /v1/organization/billing/credit_grants \
        '{"amount":10000000,"description":"make bench"}' ||
        log "note: credit grant answered HTTP $API_CODE (continuing)"
    local rl
    if api GET "/v1/organization/projects/$TG_PROJECT_ID/rate_limits?limit=100" &&
        rl=$(json_get "$TMP/api.json" ".data.find(r => r.model === '$MODEL').id"); then
        api POST "/v1/organization/projects/$TG_PROJECT_ID/rate_limits/$rl" \
            '{"max_requests_per_1_minute":100000000,"max_tokens_per_1_minute":1000000000000}' ||
            log "note: raising the project rate limit answered HTTP $API_CODE (continuing)"
    else
        log "note: no project rate limit for $MODEL found (HTTP $API_CODE; continuing)"
    fi

    if [ -n "$TOLLGATE_SETUP" ]; then
        TG_URL=$TG_URL TG_ADMIN_KEY=$TG_ADMIN_KEY TG_PROJECT_ID=$TG_PROJECT_ID TG_API_KEY=$TG_KEY \
            "$TOLLGATE_SETUP" >&2 || { fail "Tollgate: $TOLLGATE_SETUP failed"; return 1; }
    fi

    # Probe: one request through Tollgate must reach the mock with the upstream key.
    curl -sS -o /dev/null -X POST "$MOCK_URL/mock/reset" || true
    local code
    code=$(curl -sS -o "$TMP/probe.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $TG_KEY" --data "$CHAT_BODY" "$TG_URL/v1/chat/completions") ||
        code=000
    if [ "$code" != 200 ]; then
        fail "Tollgate: probe chat completion answered HTTP $code"
        show_log "$TMP/probe.json"
        show_log "$TMP/tollgate.err"
        return 1
    fi
    curl -sS -o "$TMP/stats.json" "$MOCK_URL/mock/stats" || true
    local auth
    auth=$(json_get "$TMP/stats.json" '.last_request.authorization') || auth=""
    [ "$auth" = "Bearer $UPSTREAM_KEY" ] ||
        log "note: the mock saw authorization '${auth:-<none>}', expected 'Bearer $UPSTREAM_KEY'"
    return 0
}

if [ "$SKIP_TOLLGATE" = 1 ]; then
    log "BENCH_SKIP_TOLLGATE=1: measuring direct and nginx only"
elif setup_tollgate; then
    TG_OK=1
fi

# ---- 4. measurements -----------------------------------------------------------------

declare -A RPS P50 P90 P99 ERRS
ROWS=()

# run_wrk THREADS CONNS DURATION STREAM KEY URL OUT: wrk in the background, so that a
# signal to this script is handled at once (the EXIT trap stops wrk too).
run_wrk() {
    BENCH_STREAM=$4 BENCH_KEY=$5 wrk -t "$1" -c "$2" -d "$3" --timeout 5s -s "$LUA" "$6" \
        >"$7" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
    local rc=0
    wait "$WRK_PID" || rc=$?
    unset 'PIDS[${#PIDS[@]}-1]'
    return "$rc"
}

# result_field LINE NAME: NAME's value in a "BENCH_RESULT a=1 b=2" line (bench/post.lua).
result_field() { sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"; }

# Fails the run if the process behind it is gone (crashed, or killed from outside).
check_alive() { # check_alive PID NAME LOG LABEL
    [ -z "$1" ] && return 0
    kill -0 "$1" 2>/dev/null && return 0
    wait "$1" 2>/dev/null
    fail "$4: $2 exited during the run (status $?)"
    show_log "$3"
    return 1
}

# measure ID LABEL URL THREADS CONNS STREAM KEY [PID NAME LOG]: one warm-up + measured run.
measure() {
    local id=$1 label=$2 url=$3 threads=$4 conns=$5 stream=$6 key=$7 out
    local pid=${8:-} pname=${9:-} plog=${10:-}
    check_alive "$pid" "$pname" "$plog" "$label" || { ROWS+=("$id|$label"); return 1; }
    out="$TMP/wrk-$id.txt"
    ROWS+=("$id|$label")
    if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
        run_wrk "$threads" "$conns" "$WARMUP" "$stream" "$key" "$url" "$TMP/wrk-$id.warmup.txt" || true
    fi
    log "run: $label (-t $threads -c $conns -d $DURATION)"
    if ! run_wrk "$threads" "$conns" "$DURATION" "$stream" "$key" "$url" "$out"; then
        fail "$label: wrk failed"
        show_log "$out"
        check_alive "$pid" "$pname" "$plog" "$label"
        return 1
    fi
    check_alive "$pid" "$pname" "$plog" "$label" || return 1
    local line
    line=$(grep '^BENCH_RESULT ' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        fail "$label: no result from wrk"
        show_log "$out"
        return 1
    fi
    local rps p50_us p90_us p99_us non2xx connect_err read_err write_err timeout_err
    rps=$(result_field "$line" rps)
    p50_us=$(result_field "$line" p50_us)
    p90_us=$(result_field "$line" p90_us)
    p99_us=$(result_field "$line" p99_us)
    non2xx=$(result_field "$line" non2xx)
    connect_err=$(result_field "$line" connect_err)
    read_err=$(result_field "$line" read_err)
    write_err=$(result_field "$line" write_err)
    timeout_err=$(result_field "$line" timeout_err)
    RPS[$id]=$rps
    P50[$id]=$p50_us
    P90[$id]=$p90_us
    P99[$id]=$p99_us
    local sock=$((connect_err + read_err + write_err + timeout_err))
    ERRS[$id]="$non2xx / $sock"
    if [ "$non2xx" -gt 0 ] || [ "$sock" -gt 0 ]; then
        fail "$label: $non2xx non-2xx responses, socket errors: connect $connect_err, read $read_err, write $write_err, timeout $timeout_err"
        # Show what such a response looks like.
        local sbody=$CHAT_BODY
        [ "$stream" = 1 ] && sbody=$STREAM_BODY
        local args=(-sS -i --max-time 10 -H 'Content-Type: application/json' --data "$sbody")
        [ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
        curl "${args[@]}" "$url/v1/chat/completions" >"$TMP/sample-$id.txt" 2>&1 || true
        log "a request to $url now gives:"
        show_log "$TMP/sample-$id.txt"
    fi
    log "  $rps req/s, p50 $((p50_us / 1000)).$(printf '%03d' $((p50_us % 1000))) ms, p99 $((p99_us / 1000)).$(printf '%03d' $((p99_us % 1000))) ms, non-2xx $non2xx"
}

if [ "$DO_JSON" = 1 ]; then
    measure direct "direct → mock" "$MOCK_URL" "$WRK_THREADS" "$CONNS" 0 "" \
        "$MOCK_PID" mock_upstream "$TMP/mock.err"
    measure nginx "nginx → mock" "$NGINX_URL" "$WRK_THREADS" "$CONNS" 0 "" \
        "$NGINX_PID" nginx "$TMP/nginx/error.log"
    [ "$TG_OK" = 1 ] &&
        measure tollgate "Tollgate → mock" "$TG_URL" "$WRK_THREADS" "$CONNS" 0 "$TG_KEY" \
            "$TG_PID" tollgate "$TMP/tollgate.err"
fi
if [ "$DO_STREAM" = 1 ]; then
    measure direct_sse "direct → mock" "$MOCK_URL" "$WRK_THREADS" "$CONNS" 1 "" \
        "$MOCK_PID" mock_upstream "$TMP/mock.err"
    measure nginx_sse "nginx → mock" "$NGINX_STREAM_URL" "$WRK_THREADS" "$CONNS" 1 "" \
        "$NGINX_PID" nginx "$TMP/nginx/error.log"
    [ "$TG_OK" = 1 ] &&
        measure tollgate_sse "Tollgate → mock" "$TG_URL" "$WRK_THREADS" "$CONNS" 1 "$TG_KEY" \
            "$TG_PID" tollgate "$TMP/tollgate.err"
fi
if [ "$DO_LATENCY" = 1 ]; then
    measure direct_c1 "direct → mock" "$MOCK_URL" 1 1 0 "" "$MOCK_PID" mock_upstream "$TMP/mock.err"
    measure nginx_c1 "nginx → mock" "$NGINX_URL" 1 1 0 "" "$NGINX_PID" nginx "$TMP/nginx/error.log"
    [ "$TG_OK" = 1 ] && measure tollgate_c1 "Tollgate → mock" "$TG_URL" 1 1 0 "$TG_KEY" \
        "$TG_PID" tollgate "$TMP/tollgate.err"
fi

# ---- 5. report -----------------------------------------------------------------------

ms() { [ -n "${1:-}" ] && awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }' || printf 'n/a'; }
ratio() { # ratio A B: A/B
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }' || printf 'n/a'
}
added() { # added A_us B_us: A-B in ms, signed
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", (a - b) / 1000 }' || printf 'n/a'
}

mode_of() {
    case "$1" in
    *_sse) echo "stream (SSE), $WRK_THREADS thr / $CONNS conn" ;;
    *_c1) echo "JSON, 1 thr / 1 conn" ;;
    *) echo "JSON, $WRK_THREADS thr / $CONNS conn" ;;
    esac
}

CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
MEM=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
WRK_VERSION=$(wrk -v 2>&1 | head -n 1 | awk '{ print $2 }')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "uncommitted")

{
    echo "# Tollgate benchmark results"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT, produced by \`make bench\` (bench/run.sh)."
    echo
    echo "- Machine: ${CPU_MODEL:-unknown CPU}, $NCPU cores, ${MEM:-? GiB}, $(uname -sr)."
    echo "  wrk, the mock upstream, nginx and Tollgate all share these cores."
    echo "- Load: wrk $WRK_VERSION, bench/post.lua, POST /v1/chat/completions \`$CHAT_BODY\`;"
    echo "  $DURATION per run after a $WARMUP warm-up; keep-alive connections."
    echo "- Upstream: mock_upstream --threads $MOCK_THREADS --latency-ms 0 (5 tokens, no delay)."
    echo "- nginx $NGINX_VERSION: worker_processes $NGINX_WORKERS, upstream keepalive 64, access_log off;"
    echo "  proxy_buffering off for the SSE run."
    if [ "$TG_OK" = 1 ]; then
        echo "- Tollgate: \`$TG_SERVE_CMD\` (${TG_WORKERS:-?} workers, SQLite in a temp dir), project key, provider \"mock\"."
    elif [ "$SKIP_TOLLGATE" = 1 ]; then
        echo "- Tollgate: skipped (BENCH_SKIP_TOLLGATE=1)."
    else
        echo "- Tollgate: **not measured** (setup failed, see below)."
    fi
    echo
    echo "| target | mode | req/s | p50 ms | p90 ms | p99 ms | non-2xx / socket errors |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        id=${row%%|*}
        label=${row#*|}
        echo "| $label | $(mode_of "$id") | ${RPS[$id]:-failed} | $(ms "${P50[$id]:-}") | $(ms "${P90[$id]:-}") | $(ms "${P99[$id]:-}") | ${ERRS[$id]:-n/a} |"
    done
    echo
    echo "| ratio | JSON | stream (SSE) |"
    echo "|---|---:|---:|"
    echo "| Tollgate / nginx throughput | $(ratio "${RPS[tollgate]:-}" "${RPS[nginx]:-}") | $(ratio "${RPS[tollgate_sse]:-}" "${RPS[nginx_sse]:-}") |"
    echo "| Tollgate / direct throughput | $(ratio "${RPS[tollgate]:-}" "${RPS[direct]:-}") | $(ratio "${RPS[tollgate_sse]:-}" "${RPS[direct_sse]:-}") |"
    echo "| nginx / direct throughput | $(ratio "${RPS[nginx]:-}" "${RPS[direct]:-}") | $(ratio "${RPS[nginx_sse]:-}" "${RPS[direct_sse]:-}") |"
    echo "| Tollgate added p50 vs direct, under load (ms) | $(added "${P50[tollgate]:-}" "${P50[direct]:-}") | $(added "${P50[tollgate_sse]:-}" "${P50[direct_sse]:-}") |"
    echo "| Tollgate added p99 vs direct, under load (ms) | $(added "${P99[tollgate]:-}" "${P99[direct]:-}") | $(added "${P99[tollgate_sse]:-}" "${P99[direct_sse]:-}") |"
    echo "| nginx added p50 vs direct, under load (ms) | $(added "${P50[nginx]:-}" "${P50[direct]:-}") | $(added "${P50[nginx_sse]:-}" "${P50[direct_sse]:-}") |"
    echo "| nginx added p99 vs direct, under load (ms) | $(added "${P99[nginx]:-}" "${P99[direct]:-}") | $(added "${P99[nginx_sse]:-}" "${P99[direct_sse]:-}") |"
    if [ "$DO_LATENCY" = 1 ]; then
        echo "| Tollgate added p50 vs direct, 1 connection (ms) | $(added "${P50[tollgate_c1]:-}" "${P50[direct_c1]:-}") | |"
        echo "| Tollgate added p99 vs direct, 1 connection (ms) | $(added "${P99[tollgate_c1]:-}" "${P99[direct_c1]:-}") | |"
        echo "| nginx added p50 vs direct, 1 connection (ms) | $(added "${P50[nginx_c1]:-}" "${P50[direct_c1]:-}") | |"
        echo "| nginx added p99 vs direct, 1 connection (ms) | $(added "${P99[nginx_c1]:-}" "${P99[direct_c1]:-}") | |"
    fi
    if [ ${#FAILURES[@]} -gt 0 ]; then
        echo
        echo "**Failed stages:**"
        echo
        for f in "${FAILURES[@]}"; do echo "- $f"; done
    fi
} >"$TMP/results.md"

mkdir -p "$(dirname "$RESULTS")"
cp "$TMP/results.md" "$RESULTS"
echo
cat "$TMP/results.md"
echo
log "written to $RESULTS"

if [ ${#FAILURES[@]} -gt 0 ]; then
    log "${#FAILURES[@]} stage(s) failed"
    exit 1
fi
exit 0
