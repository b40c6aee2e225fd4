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
#   BENCH_SCALE=0              "1": also run the several-instances series (JSON and SSE): (a) the
#                              Tollgate above (SQLite) against (b) nginx round robin
#                              (bench/nginx-lb.conf.in) to two `tollgate serve --redis` on one
#                              private PostgreSQL and one private Redis; both measured with a
#                              customer organisation's key (needs BENCH_DB=sqlite, redis-server,
#                              redis-cli, psql, sqlite3)
#   BENCH_SCALE_TIER=bench     that customer's tier: an id of data/tiers.json (tier_5 refuses this
#                              load: 30,000 RPM), or "bench", Tier 5 with every limit × 1000,
#                              appended to a copy of the table (TOLLGATE_DATA_DIR in the temp dir)
#   BENCH_SCALE_ARGS=          extra arguments for the two (b) instances (after BENCH_TOLLGATE_ARGS)
#   BENCH_ROUTING=0            "1": also run the routing series (JSON, 1 connection and
#                              BENCH_CONNECTIONS): (r1) gpt-4o-mini on the one provider above
#                              against (r2) a model bench-routed (gpt-4o-mini's prices) served by
#                              two providers of equal priority and weight, the mock above and a
#                              second mock failing 10 of every 100 requests with 503, each failed
#                              attempt retried on the other after a 20 ms ± 10 back-off; reports
#                              the share of requests retried and the added latency of a retry
#                              (needs Tollgate)
#   BENCH_KEEP=0               "1": keep the temp dir (logs, configs, raw wrk output)
#   BENCH_RESULTS=build/bench-results.md
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR="$ROOT/build"
MOCK_BIN="$BUILD_DIR/mock_upstream"
TOLLGATE_BIN="$BUILD_DIR/tollgate"
LUA="$ROOT/bench/post.lua"
NGINX_TEMPLATE="$ROOT/bench/nginx.conf.in"
NGINX_LB_TEMPLATE="$ROOT/bench/nginx-lb.conf.in"
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
DO_SCALE=${BENCH_SCALE:-0}
DO_ROUTING=${BENCH_ROUTING:-0}
SCALE_TIER=${BENCH_SCALE_TIER:-bench}
SCALE_ARGS=${BENCH_SCALE_ARGS:-}
KEEP=${BENCH_KEEP:-0}
RESULTS=${BENCH_RESULTS:-$BUILD_DIR/bench-results.md}

# bench/post.lua reads these; the harness sets them per run, so clear any from the caller.
unset BENCH_BODY BENCH_PATH BENCH_KEY

MODEL=gpt-4o-mini
ROUTED_MODEL=bench-routed
FLAKY_PERCENT=10
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
    if [ -n "${SCALE_PG_DIR:-}" ]; then "$ROOT/tools/pg_test_server.sh" stop "$SCALE_PG_DIR" || true; fi
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
if [ "$DO_ROUTING" = 1 ]; then
    [ "$SKIP_TOLLGATE" = 1 ] && die "BENCH_ROUTING=1 needs Tollgate (BENCH_SKIP_TOLLGATE=0)"
    command -v node >/dev/null || die "BENCH_ROUTING=1: node not found (apt-get install nodejs)"
fi
if [ "$DO_SCALE" = 1 ]; then
    [ "${BENCH_DB:-sqlite}" = sqlite ] ||
        die "BENCH_SCALE=1 compares against a Tollgate on SQLite: leave BENCH_DB unset (the series starts its own PostgreSQL)"
    [ "$SKIP_TOLLGATE" = 1 ] && die "BENCH_SCALE=1 needs Tollgate (BENCH_SKIP_TOLLGATE=0)"
    for c in redis-server redis-cli psql sqlite3 node; do
        command -v "$c" >/dev/null || die "BENCH_SCALE=1: $c not found (apt-get install redis-server postgresql sqlite3 nodejs)"
    done
    [ -f "$NGINX_LB_TEMPLATE" ] || die "$NGINX_LB_TEMPLATE missing"
    SRC_DATA=${TOLLGATE_DATA_DIR:-$ROOT/data}
    if [ "$SCALE_TIER" = bench ]; then
        # A copy of the data dir whose tier table has one more tier, "bench", above Tier 5:
        # Tier 5's limits × 1000 (every limit still checked, none reached by this load).
        mkdir -p "$TMP/data"
        for f in "$SRC_DATA"/*; do
            [ "$(basename "$f")" = tiers.json ] || ln -s "$f" "$TMP/data/$(basename "$f")"
        done
        node -e '
            const fs = require("fs");
            const t = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
            const t5 = t.tiers.find(x => x.id === "tier_5");
            if (!t5) process.exit(1);
            const b = JSON.parse(JSON.stringify(t5));
            const scale = (o) => { for (const k of ["rpm", "rpd", "tpm", "tpd"]) if (o[k] > 0) o[k] *= 1000; };
            for (const o of Object.values(b.types || {})) scale(o);
            for (const o of Object.values(b.models || {})) scale(o);
            Object.assign(b, { id: "bench", name: "Bench (Tier 5 x 1000)", paid_cents: 1e15 });
            t.tiers.push(b);
            fs.writeFileSync(process.argv[2], JSON.stringify(t, null, 1));
        ' "$SRC_DATA/tiers.json" "$TMP/data/tiers.json" || die "cannot write $TMP/data/tiers.json"
        export TOLLGATE_DATA_DIR="$TMP/data"
    fi
    # The customer's gpt-4o-mini requests per minute under that tier (the probes check it).
    SCALE_RPM=$(node -e '
        const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const x = t.tiers.find(x => x.id === process.argv[2]);
        if (!x) process.exit(1);
        const l = (x.models || {})[process.argv[3]] || (x.types || {}).chat || {};
        process.stdout.write(String(l.rpm || 0));
    ' "${TOLLGATE_DATA_DIR:-$SRC_DATA}/tiers.json" "$SCALE_TIER" "$MODEL") ||
        die "BENCH_SCALE_TIER=$SCALE_TIER is not a tier of ${TOLLGATE_DATA_DIR:-$SRC_DATA}/tiers.json"
fi

# ---- 1. mock upstream ----------------------------------------------------------------

start_bg mock "$MOCK_BIN" --listen 127.0.0.1:0 --threads "$MOCK_THREADS" --latency-ms 0
MOCK_PID=$LAST_PID
wait_for_match "$TMP/mock.out" '^listening on [0-9]+$' "$MOCK_PID" 10 ||
    { show_log "$TMP/mock.err"; die "mock_upstream did not start"; }
MOCK_PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$TMP/mock.out" | head -n 1)
MOCK_URL="http://127.0.0.1:$MOCK_PORT"
log "mock_upstream (threads $MOCK_THREADS) on $MOCK_URL"

# The routing series' second upstream: the same mock, failing exactly FLAKY_PERCENT of every
# 100 inference requests with 503.
FLAKY_PID=""
if [ "$DO_ROUTING" = 1 ]; then
    start_bg flaky "$MOCK_BIN" --listen 127.0.0.1:0 --threads "$MOCK_THREADS" --latency-ms 0 \
        --fail-status 503 --fail-percent "$FLAKY_PERCENT"
    FLAKY_PID=$LAST_PID
    wait_for_match "$TMP/flaky.out" '^listening on [0-9]+$' "$FLAKY_PID" 10 ||
        { show_log "$TMP/flaky.err"; die "the flaky mock_upstream did not start"; }
    FLAKY_PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$TMP/flaky.out" | head -n 1)
    FLAKY_URL="http://127.0.0.1:$FLAKY_PORT"
    log "flaky mock_upstream (threads $MOCK_THREADS, 503 on $FLAKY_PERCENT of every 100) on $FLAKY_URL"
fi

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
# api_at URL KEY METHOD PATH [BODY]: admin call; body to $TMP/api.json, status in $API_CODE;
# 0 on 2xx. api METHOD PATH [BODY]: the same on $TG_URL with $TG_ADMIN_KEY.
api_at() {
    local args=(-sS -o "$TMP/api.json" -w '%{http_code}' -X "$3"
        -H "Authorization: Bearer $2" -H 'Content-Type: application/json')
    [ $# -ge 5 ] && args+=(--data "$5")
    API_CODE=$(curl "${args[@]}" "$1$4") || API_CODE=000
    [[ "$API_CODE" == 2?? ]]
}
api() { api_at "$TG_URL" "$TG_ADMIN_KEY" "$@"; }
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

# ---- 3b. several instances (BENCH_SCALE=1) -------------------------------------------

# probe_chat URL KEY STREAM: one chat completion; status in $PROBE_CODE, headers in
# $TMP/probe.head, body in $TMP/probe.json; 0 on 200.
probe_chat() {
    local body=$CHAT_BODY
    [ "$3" = 1 ] && body=$STREAM_BODY
    PROBE_CODE=$(curl -sS --max-time 10 -D "$TMP/probe.head" -o "$TMP/probe.json" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $2" --data "$body" \
        "$1/v1/chat/completions") || PROBE_CODE=000
    [ "$PROBE_CODE" = 200 ]
}

# setup_customer WHICH URL OPERATOR_ADMIN_KEY SET_TIER_FN: a customer organisation (the
# operator's own skips credit and tiers) with 100,000 cents of credit and tier $SCALE_TIER (set
# in the database by SET_TIER_FN ORG_ID, then an Admin API write so that the catalog is read
# again), and an API key of its default project in CUST_KEY[WHICH]. 0 on success.
declare -A CUST_KEY
setup_customer() {
    local which=$1 url=$2 op_key=$3 set_tier=$4 org proj ckey
    api_at "$url" "$op_key" POST /v1/platform/organizations "{\"name\":\"bench customer ($which)\"}" ||
        { api_fail "($which) POST /v1/platform/organizations"; return 1; }
    if ! org=$(json_get "$TMP/api.json" '.id') ||
        ! proj=$(json_get "$TMP/api.json" '.default_project_id') ||
        ! ckey=$(json_get "$TMP/api.json" '.admin_key.value'); then
        fail "($which) the new organisation has no id, default_project_id or admin_key.value"
        show_log "$TMP/api.json"
        return 1
    fi
    api_at "$url" "$op_key" POST "/v1/platform/organizations/$org/credit_grants" '{"amount":100000}' ||
        { api_fail "($which) POST /v1/platform/organizations/$org/credit_grants"; return 1; }
    "$set_tier" "$org" || { fail "($which) setting the tier of $org to $SCALE_TIER"; return 1; }
    api_at "$url" "$ckey" POST "/v1/organization/projects/$proj/api_keys" '{"name":"bench"}' ||
        { api_fail "($which) POST /v1/organization/projects/$proj/api_keys (customer admin key)"; return 1; }
    CUST_KEY[$which]=$(json_get "$TMP/api.json" '.value') ||
        { fail "($which) the customer's API key has no value"; show_log "$TMP/api.json"; return 1; }
    log "($which) customer organisation $org, tier $SCALE_TIER, 100000 cents of credit"
}

# check_tier WHICH URL: a probe with the customer's key answers 200 under the tier's limits.
check_tier() {
    local which=$1 url=$2 lim
    if ! probe_chat "$url" "${CUST_KEY[$which]}" 0; then
        fail "($which) probe of $url with the customer's key answered HTTP $PROBE_CODE"
        show_log "$TMP/probe.json"
        return 1
    fi
    lim=$(tr -d '\r' <"$TMP/probe.head" | sed -n 's/^x-ratelimit-limit-requests: *//Ip' | head -n 1)
    if [ "$lim" != "$SCALE_RPM" ]; then
        fail "($which) x-ratelimit-limit-requests is '${lim:-<none>}', expected $SCALE_RPM (tier $SCALE_TIER not in force)"
        return 1
    fi
}

# shellcheck disable=SC2317 # sqlite_set_tier, pg_set_tier: called through setup_customer
sqlite_set_tier() {
    local n
    n=$(sqlite3 -cmd '.timeout 10000' "$TMP/bench.db" \
        "UPDATE organizations SET tier='$SCALE_TIER' WHERE id='$1'; SELECT changes();") && [ "$n" = 1 ]
}
# shellcheck disable=SC2317
pg_set_tier() {
    local out
    out=$(psql "$SCALE_DB_URL" -v ON_ERROR_STOP=1 -At -c \
        "UPDATE organizations SET tier='$SCALE_TIER' WHERE id='$1'") && [ "$out" = "UPDATE 1" ]
}

# redis_stats: "EVALSHA_CALLS EVAL_CALLS SCRIPT_USEC ALL_CALLS" of the private Redis.
redis_stats() {
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[:,=]' '
        /^cmdstat_/ { all += $3
            if ($1 == "cmdstat_evalsha") { es = $3; us += $5 }
            if ($1 == "cmdstat_eval") { e = $3; us += $5 } }
        END { printf "%d %d %d %d\n", es, e, us, all }'
}
declare -A REDIS_BEFORE REDIS_AFTER

# Where the CPU goes: clock ticks (utime + stime, all threads) of processes and their children.
# cpu_ticks PID...
cpu_ticks() {
    local p k sum=0 t
    for p in "$@"; do
        [ -n "$p" ] || continue
        for k in $p $(ps -o pid= --ppid "$p" 2>/dev/null); do
            t=$(sed 's/.*) //' "/proc/$k/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
            sum=$((sum + ${t:-0}))
        done
    done
    echo "$sum"
}
# cpu_snapshot: "TOLLGATE_A TOLLGATE_B POSTGRESQL REDIS NGINX_LB MOCK BUSY IDLE" in ticks (the
# last two: the whole machine, /proc/stat).
cpu_snapshot() {
    local pg=""
    [ -n "${SCALE_PG_DIR:-}" ] && pg=$(head -n 1 "$SCALE_PG_DIR/data/postmaster.pid" 2>/dev/null)
    echo "$(cpu_ticks "$TG_PID") $(cpu_ticks "${SCALE_TG_PIDS[@]}") $(cpu_ticks "$pg")" \
        "$(cpu_ticks "${REDIS_PID:-}") $(cpu_ticks "${LB_PID:-}") $(cpu_ticks "$MOCK_PID")" \
        "$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)"
}
declare -A CPU_BEFORE CPU_AFTER
# measure()'s hooks before a measured run of this series: CPU counters, and for (b) Redis's
# counters once the warm-up has settled.
# shellcheck disable=SC2317 # called through MEASURE_PRE_HOOK
cpu_before() { CPU_BEFORE[$1]=$(cpu_snapshot); }
# shellcheck disable=SC2317
redis_before() {
    sleep 0.5
    redis-cli -p "$REDIS_PORT" info commandstats >"$TMP/redis-$1.before.txt" 2>&1
    REDIS_BEFORE[$1]=$(redis_stats)
    BATCH_BEFORE[$1]=$(usage_batches)
    cpu_before "$1"
}
# usage_batches: "RECORDS BATCHES" committed by the (b) instances' usage writers (/metrics).
declare -A BATCH_BEFORE BATCH_AFTER
usage_batches() {
    local u
    for u in "${SCALE_URLS[@]}"; do curl -s --max-time 5 "$u/metrics"; done | awk '
        $1 == "tollgate_usage_records_committed_total" { r += $2 }
        $1 == "tollgate_usage_batches_total" { b += $2 }
        END { printf "%d %d\n", r, b }'
}

SCALE_OK=0
SCALE_PIDS=()
SCALE_TG_PIDS=()
SCALE_NAMES=()
SCALE_URLS=()
setup_scale() {
    local out i port
    out=$("$ROOT/tools/pg_test_server.sh" start) || { fail "(b) PostgreSQL did not start"; return 1; }
    SCALE_DB_URL=${out% *}
    SCALE_PG_DIR=${out#* }
    PG_VERSION=$(psql "$SCALE_DB_URL" -At -c 'SHOW server_version' 2>/dev/null | awk '{ print $1 }')
    log "(b) PostgreSQL ${PG_VERSION:-?} on $SCALE_DB_URL"

    REDIS_PORT=$(free_port) || { fail "no free port"; return 1; }
    start_bg redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
    REDIS_PID=$LAST_PID
    wait_for_match "$TMP/redis.out" 'Ready to accept connections' "$REDIS_PID" 10 ||
        { fail "(b) redis-server did not start"; show_log "$TMP/redis.out"; show_log "$TMP/redis.err"; return 1; }
    REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
    SCALE_PIDS+=("$REDIS_PID")
    SCALE_NAMES+=("redis-server|$TMP/redis.out")
    log "(b) Redis ${REDIS_VERSION:-?} on 127.0.0.1:$REDIS_PORT"

    SCALE_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    env TOLLGATE_SECRET_KEY="$SCALE_SECRET" "$TOLLGATE_BIN" init --db "$SCALE_DB_URL" --json \
        >"$TMP/scale-init.json" 2>"$TMP/scale-init.err" ||
        { fail "(b) tollgate init on PostgreSQL failed"; show_log "$TMP/scale-init.err"; return 1; }
    SCALE_ADMIN_KEY=$(json_get "$TMP/scale-init.json" '.admin_key') ||
        { fail "(b) init --json printed no admin_key"; return 1; }

    local ports=()
    for i in 1 2; do
        port=$(free_port) || { fail "no free port"; return 1; }
        ports+=("$port")
        # shellcheck disable=SC2086 # BENCH_TOLLGATE_ARGS and BENCH_SCALE_ARGS are split on purpose
        start_bg "tollgate$i" env TOLLGATE_SECRET_KEY="$SCALE_SECRET" "$TOLLGATE_BIN" serve \
            --listen "127.0.0.1:$port" --db "$SCALE_DB_URL" --redis "redis://127.0.0.1:$REDIS_PORT" \
            $TOLLGATE_ARGS $SCALE_ARGS
        SCALE_PIDS+=("$LAST_PID")
        SCALE_TG_PIDS+=("$LAST_PID")
        SCALE_NAMES+=("tollgate$i|$TMP/tollgate$i.err")
        if ! wait_for_match "$TMP/tollgate$i.err" 'listening on http://' "$LAST_PID" 20 ||
            ! wait_for_port "$port" "$LAST_PID" 5; then
            fail "(b) tollgate serve #$i did not start"
            show_log "$TMP/tollgate$i.err"
            return 1
        fi
        SCALE_URLS+=("http://127.0.0.1:$port")
    done
    SCALE_WORKERS=$(sed -n 's/.*listening on http:[^(]*(\([0-9][0-9]*\) workers.*/\1/p' "$TMP/tollgate1.err" | head -n 1)
    SCALE_SERVE_CMD="tollgate serve --listen 127.0.0.1:PORT --db postgres://… --redis redis://127.0.0.1:$REDIS_PORT${TOLLGATE_ARGS:+ $TOLLGATE_ARGS}${SCALE_ARGS:+ $SCALE_ARGS}"
    log "(b) two Tollgate instances on ${SCALE_URLS[*]}${SCALE_WORKERS:+ ($SCALE_WORKERS workers each)}"

    local u1=${SCALE_URLS[0]} u2=${SCALE_URLS[1]}
    api_at "$u1" "$SCALE_ADMIN_KEY" POST /v1/organization/providers "{\"name\":\"mock\",\"type\":\"openai_compatible\",\"base_url\":\"$MOCK_URL/v1\",\"api_key\":\"$UPSTREAM_KEY\",\"models\":[{\"model\":\"$MODEL\"}]}" ||
        { api_fail "(b) POST /v1/organization/providers"; return 1; }
    setup_customer b "$u1" "$SCALE_ADMIN_KEY" pg_set_tier || return 1
    check_tier b "$u1" || { show_log "$TMP/tollgate1.err"; return 1; }
    # The other instance learns of the key (and re-reads the tier) through Redis's pub/sub.
    for ((i = 0; i < 50; i++)); do
        probe_chat "$u2" "${CUST_KEY[b]}" 0 && break
        sleep 0.1
    done
    check_tier b "$u2" || { show_log "$TMP/tollgate2.err"; return 1; }

    LB_PORT=$(free_port) || { fail "no free port"; return 1; }
    LB_STREAM_PORT=$(free_port) || { fail "no free port"; return 1; }
    mkdir -p "$TMP/nginx-lb"
    sed -e "s|@PREFIX@|$TMP/nginx-lb|g" -e "s|@WORKERS@|$NGINX_WORKERS|g" \
        -e "s|@TG1_PORT@|${ports[0]}|g" -e "s|@TG2_PORT@|${ports[1]}|g" -e "s|@PORT@|$LB_PORT|g" \
        -e "s|@STREAM_PORT@|$LB_STREAM_PORT|g" "$NGINX_LB_TEMPLATE" >"$TMP/nginx-lb/nginx.conf"
    "$NGINX_BIN" -t -q -p "$TMP/nginx-lb/" -e "$TMP/nginx-lb/error.log" -c "$TMP/nginx-lb/nginx.conf" \
        >"$TMP/nginx-lb-test.log" 2>&1 || { fail "(b) nginx load balancer config test"; show_log "$TMP/nginx-lb-test.log"; return 1; }
    start_bg nginx-lb "$NGINX_BIN" -p "$TMP/nginx-lb/" -e "$TMP/nginx-lb/error.log" -c "$TMP/nginx-lb/nginx.conf"
    LB_PID=$LAST_PID
    SCALE_PIDS+=("$LB_PID")
    SCALE_NAMES+=("nginx (load balancer)|$TMP/nginx-lb/error.log")
    { wait_for_port "$LB_PORT" "$LB_PID" 10 && wait_for_port "$LB_STREAM_PORT" "$LB_PID" 10; } ||
        { fail "(b) the nginx load balancer did not start"; show_log "$TMP/nginx-lb.err"; show_log "$TMP/nginx-lb/error.log"; return 1; }
    LB_URL="http://127.0.0.1:$LB_PORT"
    LB_STREAM_URL="http://127.0.0.1:$LB_STREAM_PORT"
    log "(b) nginx round robin over both instances on $LB_URL (SSE: $LB_STREAM_URL)"
    for url in "$LB_URL" "$LB_STREAM_URL"; do
        probe_chat "$url" "${CUST_KEY[b]}" 0 ||
            { fail "(b) probe of the load balancer $url answered HTTP $PROBE_CODE"; show_log "$TMP/probe.json"; return 1; }
    done
    probe_chat "$LB_STREAM_URL" "${CUST_KEY[b]}" 1 ||
        { fail "(b) streamed probe of $LB_STREAM_URL answered HTTP $PROBE_CODE"; show_log "$TMP/probe.json"; return 1; }
    return 0
}

if [ "$DO_SCALE" = 1 ] && [ "$TG_OK" = 1 ]; then
    if setup_customer a "$TG_URL" "$TG_ADMIN_KEY" sqlite_set_tier && check_tier a "$TG_URL" &&
        setup_scale; then
        SCALE_OK=1
    fi
elif [ "$DO_SCALE" = 1 ]; then
    fail "BENCH_SCALE=1: not measured (Tollgate did not start)"
fi

# ---- 3c. routing over two providers (BENCH_ROUTING=1) --------------------------------

ROUTE_OK=0
ROUTE_MAIN_ID=""
ROUTE_FLAKY_ID=""
ROUTE_BODY="{\"model\":\"$ROUTED_MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}"

# route_stats: "MAIN_OK MAIN_FAILED FLAKY_OK FLAKY_FAILED OTHER" from Tollgate's /metrics:
# tollgate_provider_attempts_total of the two routed providers (OTHER: their attempts of any
# other outcome). Empty when /metrics cannot be read.
route_stats() {
    curl -sS --max-time 5 "$TG_URL/metrics" 2>/dev/null | awk -v m="$ROUTE_MAIN_ID" -v f="$ROUTE_FLAKY_ID" '
        $1 ~ /^tollgate_provider_attempts_total\{/ {
            seen = 1
            p = $1; sub(/.*provider="/, "", p); sub(/".*/, "", p)
            o = $1; sub(/.*outcome="/, "", o); sub(/".*/, "", o)
            if (p == m && o == "ok") mo += $2
            else if (p == m && o == "failed") mf += $2
            else if (p == f && o == "ok") fo += $2
            else if (p == f && o == "failed") ff += $2
            else if (p == m || p == f) other += $2
        }
        END { if (seen) printf "%d %d %d %d %d\n", mo, mf, fo, ff, other }'
}
declare -A ROUTE_BEFORE ROUTE_AFTER

setup_routing() {
    local body
    # bench-routed: gpt-4o-mini's prices, type, window and tokenizer under another name.
    api GET "/v1/organization/models/$MODEL" || { api_fail "GET /v1/organization/models/$MODEL"; return 1; }
    body=$(node -e '
        const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const o = {};
        for (const k of Object.keys(m))
            if (!["id", "object", "owned_by", "created"].includes(k)) o[k] = m[k];
        if (o.input_price === undefined || o.output_price === undefined) process.exit(1);
        process.stdout.write(JSON.stringify(o));
    ' "$TMP/api.json") || { fail "Tollgate: $MODEL has no prices"; show_log "$TMP/api.json"; return 1; }
    api POST "/v1/organization/models/$ROUTED_MODEL" "$body" ||
        { api_fail "POST /v1/organization/models/$ROUTED_MODEL"; return 1; }

    # Two providers of it, priority 0 and weight 1 each: the main mock and the flaky one.
    local name url id
    for name in routed-main routed-flaky; do
        url=$MOCK_URL
        [ "$name" = routed-flaky ] && url=$FLAKY_URL
        api POST /v1/organization/providers "{\"name\":\"$name\",\"type\":\"openai_compatible\",\"base_url\":\"$url/v1\",\"api_key\":\"$UPSTREAM_KEY\",\"models\":[{\"model\":\"$ROUTED_MODEL\",\"upstream_model\":\"$MODEL\"}],\"priority\":0,\"weight\":1}" ||
            { api_fail "POST /v1/organization/providers ($name)"; return 1; }
        id=$(json_get "$TMP/api.json" '.id') ||
            { fail "Tollgate: provider $name has no id"; show_log "$TMP/api.json"; return 1; }
        if [ "$name" = routed-main ]; then ROUTE_MAIN_ID=$id; else ROUTE_FLAKY_ID=$id; fi
    done
    log "$ROUTED_MODEL: providers $ROUTE_MAIN_ID (→ $MOCK_URL) and $ROUTE_FLAKY_ID (→ $FLAKY_URL)"

    # As for gpt-4o-mini in setup_tollgate: the project's limits of the model raised (best effort).
    api POST "/v1/organization/projects/$TG_PROJECT_ID/rate_limits/rl-$ROUTED_MODEL" \
        '{"max_requests_per_1_minute":100000000,"max_tokens_per_1_minute":1000000000000}' ||
        log "note: raising the project rate limit of $ROUTED_MODEL answered HTTP $API_CODE (continuing)"

    # Probe: 40 requests, every one 200; the flaky provider gets half of the first attempts and
    # fails one in ten of them, so at least one attempt must have failed and been retried.
    local i code before after bf fo af
    before=$(route_stats)
    [ -n "$before" ] || { fail "Tollgate: /metrics has no tollgate_provider_attempts_total"; return 1; }
    for ((i = 0; i < 40; i++)); do
        code=$(curl -sS --max-time 10 -o "$TMP/probe.json" -w '%{http_code}' -H 'Content-Type: application/json' \
            -H "Authorization: Bearer $TG_KEY" --data "$ROUTE_BODY" "$TG_URL/v1/chat/completions") ||
            code=000
        if [ "$code" != 200 ]; then
            fail "Tollgate: probe $((i + 1)) of $ROUTED_MODEL answered HTTP $code"
            show_log "$TMP/probe.json"
            show_log "$TMP/tollgate.err"
            return 1
        fi
    done
    after=$(route_stats)
    read -r _ _ _ bf _ <<<"$before"
    read -r _ _ fo af _ <<<"$after"
    if [ -z "$after" ] || [ "$fo" -eq 0 ] || [ "$af" -le "$bf" ]; then
        fail "Tollgate: 40 probes of $ROUTED_MODEL, but the flaky provider's attempts (ok failed) went '${before:-?}' → '${after:-?}' (main ok, main failed, flaky ok, flaky failed, other): no retry seen"
        return 1
    fi
    log "$ROUTED_MODEL: 40 probes answered 200; attempts (main ok/failed, flaky ok/failed, other): $after"
    return 0
}

if [ "$DO_ROUTING" = 1 ] && [ "$TG_OK" = 1 ]; then
    setup_routing && ROUTE_OK=1
elif [ "$DO_ROUTING" = 1 ]; then
    fail "BENCH_ROUTING=1: not measured (Tollgate did not start)"
fi

# ---- 4. measurements -----------------------------------------------------------------

declare -A RPS P50 P90 P99 MEAN CYCLE ERRS REQS NON2XX
MEASURE_PRE_HOOK="" # a function measure() calls with the run's id between warm-up and run
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
    [ -n "$MEASURE_PRE_HOOK" ] && "$MEASURE_PRE_HOOK" "$id"
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
    REQS[$id]=$(result_field "$line" requests)
    P50[$id]=$p50_us
    P90[$id]=$p90_us
    P99[$id]=$p99_us
    # wrk's latency.mean, and the mean time a request held its connection: connections ×
    # duration / requests (closed loop, Little's law). wrk's histogram (mean and percentiles)
    # is after its coordinated-omission correction (stats_correct: a sample longer than twice
    # the mean interval per connection adds samples at that value minus 1, 2, … intervals),
    # which inflates a mean when a few requests are much slower than the rest; the second is not.
    MEAN[$id]=$(result_field "$line" mean_us)
    CYCLE[$id]=$(awk -v c="$conns" -v d="$(result_field "$line" duration_us)" -v n="${REQS[$id]}" \
        'BEGIN { if (n > 0 && d > 0) printf "%.1f", c * d / n }')
    NON2XX[$id]=$non2xx
    local sock=$((connect_err + read_err + write_err + timeout_err))
    ERRS[$id]="$non2xx / $sock"
    if [ "$non2xx" -gt 0 ] || [ "$sock" -gt 0 ]; then
        fail "$label: $non2xx non-2xx responses, socket errors: connect $connect_err, read $read_err, write $write_err, timeout $timeout_err"
        # Show what such a response looks like.
        local sbody=$CHAT_BODY
        [ "$stream" = 1 ] && sbody=$STREAM_BODY
        [ -n "${BENCH_BODY:-}" ] && sbody=$BENCH_BODY
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

# The several-instances series: (a) and (b) alternately, JSON then SSE, so that each pair
# runs in the same minute. (b)'s other processes must live through its runs too.
check_scale_alive() { # check_scale_alive LABEL
    local i ok=0
    for i in "${!SCALE_PIDS[@]}"; do
        check_alive "${SCALE_PIDS[$i]}" "${SCALE_NAMES[$i]%%|*}" "${SCALE_NAMES[$i]#*|}" "$1" || ok=1
    done
    return "$ok"
}
measure_scale_a() { # measure_scale_a ID STREAM
    MEASURE_PRE_HOOK=cpu_before
    measure "$1" "$SCALE_A_LABEL" "$TG_URL" "$WRK_THREADS" "$CONNS" "$2" "${CUST_KEY[a]}" \
        "$TG_PID" tollgate "$TMP/tollgate.err"
    MEASURE_PRE_HOOK=""
    CPU_AFTER[$1]=$(cpu_snapshot)
}
measure_scale_b() { # measure_scale_b ID URL STREAM
    MEASURE_PRE_HOOK=redis_before
    measure "$1" "$SCALE_B_LABEL" "$2" "$WRK_THREADS" "$CONNS" "$3" "${CUST_KEY[b]}"
    MEASURE_PRE_HOOK=""
    CPU_AFTER[$1]=$(cpu_snapshot)
    sleep 0.5 # the last requests' settlements
    redis-cli -p "$REDIS_PORT" info commandstats >"$TMP/redis-$1.after.txt" 2>&1
    REDIS_AFTER[$1]=$(redis_stats)
    BATCH_AFTER[$1]=$(usage_batches)
    check_scale_alive "$SCALE_B_LABEL"
}
if [ "$SCALE_OK" = 1 ]; then
    SCALE_A_LABEL="(a) 1 × Tollgate, SQLite"
    SCALE_B_LABEL="(b) nginx → 2 × Tollgate, PostgreSQL + Redis"
    measure_scale_a scale_a 0
    measure_scale_b scale_b "$LB_URL" 0
    measure_scale_a scale_a_sse 1
    measure_scale_b scale_b_sse "$LB_STREAM_URL" 1
fi

# The routing series: (r1) and (r2) alternately, 1 connection then $CONNS, so that each pair
# runs in the same minute. (r2)'s body names bench-routed (BENCH_BODY, for post.lua); the
# flaky provider's failed attempts are read from /metrics after the warm-up and after the run.
# shellcheck disable=SC2317 # called through MEASURE_PRE_HOOK
route_before() { sleep 0.2; ROUTE_BEFORE[$1]=$(route_stats); }
measure_route_r1() { # measure_route_r1 ID THREADS CONNS
    measure "$1" "(r1) Tollgate → mock, $MODEL, 1 provider" "$TG_URL" "$2" "$3" 0 "$TG_KEY" \
        "$TG_PID" tollgate "$TMP/tollgate.err"
}
measure_route_r2() { # measure_route_r2 ID THREADS CONNS
    export BENCH_BODY=$ROUTE_BODY
    MEASURE_PRE_HOOK=route_before
    measure "$1" "(r2) Tollgate → mock + flaky mock, $ROUTED_MODEL, 2 providers" "$TG_URL" "$2" "$3" 0 \
        "$TG_KEY" "$TG_PID" tollgate "$TMP/tollgate.err"
    MEASURE_PRE_HOOK=""
    unset BENCH_BODY
    sleep 0.2 # the last requests' retries
    ROUTE_AFTER[$1]=$(route_stats)
    check_alive "$MOCK_PID" mock_upstream "$TMP/mock.err" "(r2)"
    check_alive "$FLAKY_PID" "the flaky mock_upstream" "$TMP/flaky.err" "(r2)"
    if [ -z "${ROUTE_BEFORE[$1]:-}" ] || [ -z "${ROUTE_AFTER[$1]}" ]; then
        fail "(r2) $1: cannot read the providers' attempts from $TG_URL/metrics"
        return 1
    fi
    local bf af
    read -r _ _ _ bf _ <<<"${ROUTE_BEFORE[$1]}"
    read -r _ _ _ af _ <<<"${ROUTE_AFTER[$1]}"
    if [ -n "${REQS[$1]:-}" ] && [ "$af" -le "$bf" ]; then
        fail "(r2) $1: no attempt of the flaky provider failed (attempts ${ROUTE_BEFORE[$1]} → ${ROUTE_AFTER[$1]}): no retry was measured"
        return 1
    fi
    log "  attempts (main ok/failed, flaky ok/failed, other): ${ROUTE_BEFORE[$1]} → ${ROUTE_AFTER[$1]}"
}
if [ "$ROUTE_OK" = 1 ]; then
    measure_route_r1 route_r1_c1 1 1
    measure_route_r2 route_r2_c1 1 1
    measure_route_r1 route_r1 "$WRK_THREADS" "$CONNS"
    measure_route_r2 route_r2 "$WRK_THREADS" "$CONNS"
fi

# ---- 5. report -----------------------------------------------------------------------

ms() { [ -n "${1:-}" ] && awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }' || printf 'n/a'; }
ratio() { # ratio A B: A/B
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }' || printf 'n/a'
}
added() { # added A_us B_us: A-B in ms, signed
    [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", (a - b) / 1000 }' || printf 'n/a'
}

# redis_per_req ID FIELD [DECIMALS]: the growth of redis_stats field FIELD (1 EVALSHA, 2 EVAL,
# 3 script µs, 4 all commands, including those the scripts run; "1+2" for both) over run ID,
# per request wrk completed.
redis_per_req() {
    if [ -z "${REDIS_BEFORE[$1]:-}" ] || [ -z "${REDIS_AFTER[$1]:-}" ] || [ -z "${REQS[$1]:-}" ]; then
        printf 'n/a'
        return
    fi
    awk -v b="${REDIS_BEFORE[$1]}" -v a="${REDIS_AFTER[$1]}" -v n="${REQS[$1]}" -v f="$2" -v d="${3:-2}" 'BEGIN {
        split(b, B, " "); split(a, A, " "); k = split(f, F, "+"); s = 0
        for (i = 1; i <= k; i++) s += A[F[i]] - B[F[i]]
        if (n > 0) printf "%." d "f", s / n; else printf "n/a" }'
}

# per_batch ID: usage records per batch (one transaction) of the (b) instances over run ID.
per_batch() {
    awk -v b="${BATCH_BEFORE[$1]:-}" -v a="${BATCH_AFTER[$1]:-}" 'BEGIN {
        split(b, B, " "); split(a, A, " ")
        if (b == "" || a == "" || A[2] <= B[2]) { printf "n/a"; exit }
        printf "%.1f", (A[1] - B[1]) / (A[2] - B[2]) }'
}

# cpu_per_req ID FIELD: CPU µs per completed request of cpu_snapshot field FIELD (1..6) over run
# ID; "rest": the machine's busy time minus fields 1..6 (wrk, the kernel's softirqs, anything
# else running); "idle": the machine's idle share in %.
cpu_per_req() {
    if [ -z "${CPU_BEFORE[$1]:-}" ] || [ -z "${CPU_AFTER[$1]:-}" ] || [ -z "${REQS[$1]:-}" ]; then
        printf 'n/a'
        return
    fi
    awk -v b="${CPU_BEFORE[$1]}" -v a="${CPU_AFTER[$1]}" -v n="${REQS[$1]}" -v f="$2" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(b, B, " "); split(a, A, " ")
        for (i = 1; i <= 8; i++) D[i] = A[i] - B[i]
        if (f == "idle") { printf "%.0f %%", 100 * D[8] / (D[7] + D[8]); exit }
        if (f == "rest") { v = D[7]; for (i = 1; i <= 6; i++) v -= D[i] } else v = D[f]
        if (n > 0) printf "%.0f", v / hz * 1e6 / n; else printf "n/a" }'
}

# route_delta ID FIELDS: the growth over run ID of route_stats fields FIELDS (1 main ok, 2 main
# failed, 3 flaky ok, 4 flaky failed, 5 other; "2+5" for a sum).
route_delta() {
    if [ -z "${ROUTE_BEFORE[$1]:-}" ] || [ -z "${ROUTE_AFTER[$1]:-}" ]; then
        printf 'n/a'
        return
    fi
    awk -v b="${ROUTE_BEFORE[$1]}" -v a="${ROUTE_AFTER[$1]}" -v f="$2" 'BEGIN {
        split(b, B, " "); split(a, A, " "); k = split(f, F, "+"); s = 0
        for (i = 1; i <= k; i++) s += A[F[i]] - B[F[i]]
        printf "%d", s }'
}
# route_retried ID [pct]: the fraction of run ID's requests retried (the flaky provider's failed
# attempts over the requests wrk completed); "pct": as a percentage.
route_retried() {
    local d
    d=$(route_delta "$1" 4)
    if [ "$d" = n/a ] || [ -z "${REQS[$1]:-}" ]; then
        printf 'n/a'
        return
    fi
    awk -v d="$d" -v n="${REQS[$1]}" -v p="${2:-}" 'BEGIN {
        if (n <= 0) { printf "n/a"; exit }
        if (p == "pct") printf "%.2f %%", 100 * d / n; else printf "%.6f", d / n }'
}
# retry_cost R2 R1 MEANS: (MEANS[R2] - MEANS[R1]) / the fraction of R2's requests retried, in
# ms; MEANS is CYCLE (connections × duration / requests) or MEAN (wrk's latency.mean).
retry_cost() {
    local f
    local -n means=$3
    f=$(route_retried "$1")
    if [ "$f" = n/a ] || [ -z "${means[$1]:-}" ] || [ -z "${means[$2]:-}" ]; then
        printf 'n/a'
        return
    fi
    awk -v a="${means[$1]}" -v b="${means[$2]}" -v f="$f" 'BEGIN {
        if (f > 0) printf "%.1f", (a - b) / f / 1000; else printf "n/a" }'
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
    if [ "$DO_SCALE" = 1 ]; then
        echo
        echo "## Several instances (BENCH_SCALE=1)"
        echo
        echo "- (a) the Tollgate above (SQLite), with a customer organisation's API key."
        echo "- (b) nginx $NGINX_VERSION (worker_processes $NGINX_WORKERS, bench/nginx-lb.conf.in) round robin,"
        echo "  upstream keepalive 64, to two \`${SCALE_SERVE_CMD:-tollgate serve --redis …}\`"
        echo "  (${SCALE_WORKERS:-?} workers each) on one private PostgreSQL ${PG_VERSION:-} (tools/pg_test_server.sh, fsync off)"
        echo "  and one private Redis ${REDIS_VERSION:-} (\`--save '' --appendonly no\`), with a customer organisation's API key."
        echo "- Both customers: 100000 cents of credit, tier \`$SCALE_TIER\` ($SCALE_RPM gpt-4o-mini requests/min$([ "$SCALE_TIER" = bench ] && echo "; Tier 5's limits × 1000, as Tier 5's 30000 RPM would refuse this load"))."
        echo "- Everything (wrk, mock, both nginx, the Tollgate instances, PostgreSQL, Redis) on the same $NCPU cores."
        echo
        echo "| | JSON | stream (SSE) |"
        echo "|---|---:|---:|"
        echo "| (a) req/s | ${RPS[scale_a]:-failed} | ${RPS[scale_a_sse]:-failed} |"
        echo "| (b) req/s | ${RPS[scale_b]:-failed} | ${RPS[scale_b_sse]:-failed} |"
        echo "| **(b) / (a) throughput** | **$(ratio "${RPS[scale_b]:-}" "${RPS[scale_a]:-}")** | **$(ratio "${RPS[scale_b_sse]:-}" "${RPS[scale_a_sse]:-}")** |"
        echo "| (a) p50 / p99 (ms) | $(ms "${P50[scale_a]:-}") / $(ms "${P99[scale_a]:-}") | $(ms "${P50[scale_a_sse]:-}") / $(ms "${P99[scale_a_sse]:-}") |"
        echo "| (b) p50 / p99 (ms) | $(ms "${P50[scale_b]:-}") / $(ms "${P99[scale_b]:-}") | $(ms "${P50[scale_b_sse]:-}") / $(ms "${P99[scale_b_sse]:-}") |"
        echo "| (b) added p50 vs (a) (ms) | $(added "${P50[scale_b]:-}" "${P50[scale_a]:-}") | $(added "${P50[scale_b_sse]:-}" "${P50[scale_a_sse]:-}") |"
        echo "| (b) added p99 vs (a) (ms) | $(added "${P99[scale_b]:-}" "${P99[scale_a]:-}") | $(added "${P99[scale_b_sse]:-}" "${P99[scale_a_sse]:-}") |"
        echo "| (b) Redis scripts (EVALSHA + EVAL) per request | $(redis_per_req scale_b 1+2) | $(redis_per_req scale_b_sse 1+2) |"
        echo "| (b) Redis time in scripts per request (µs, Redis's clock) | $(redis_per_req scale_b 3 1) | $(redis_per_req scale_b_sse 3 1) |"
        echo "| (b) usage records per PostgreSQL transaction | $(per_batch scale_b) | $(per_batch scale_b_sse) |"
        echo
        echo "| CPU per request (µs) | (a) JSON | (b) JSON | (a) SSE | (b) SSE |"
        echo "|---|---:|---:|---:|---:|"
        scale_cpu_row() { echo "| $1 | $(cpu_per_req scale_a "$2") | $(cpu_per_req scale_b "$2") | $(cpu_per_req scale_a_sse "$2") | $(cpu_per_req scale_b_sse "$2") |"; }
        scale_cpu_row "Tollgate (a)" 1
        scale_cpu_row "Tollgate (b), both instances" 2
        scale_cpu_row "PostgreSQL (all its processes)" 3
        scale_cpu_row "Redis" 4
        scale_cpu_row "nginx load balancer" 5
        scale_cpu_row "mock upstream" 6
        scale_cpu_row "the rest: wrk, kernel, anything else" rest
        scale_cpu_row "machine idle" idle
        echo
        echo "CPU: clock ticks (\`/proc/PID/stat\`, children included) between the start and the end of"
        echo "each measured run, per request wrk completed; the machine's from \`/proc/stat\`."
        echo
        echo "Redis counts: \`redis-cli info commandstats\` after the warm-up and after the measured run"
        echo "(0.5 s later, for the last settlements), over the requests wrk completed. A script call is"
        echo "one round trip; the commands the scripts run inside Redis are not counted. They include the"
        echo "instances' background scripts (a heartbeat a second each, a sweep every 5 s)."
    fi
    if [ "$DO_ROUTING" = 1 ]; then
        echo
        echo "## Routing: two providers, one failing $FLAKY_PERCENT % (BENCH_ROUTING=1)"
        echo
        echo "- (r1) \`$MODEL\` on the provider \"mock\" alone: the Tollgate above, its project key."
        echo "- (r2) \`$ROUTED_MODEL\` (a model with $MODEL's prices and type, \`upstream_model\` $MODEL),"
        echo "  served by two providers of priority 0 and weight 1: \"routed-main\" → the mock above, and"
        echo "  \"routed-flaky\" → a second \`mock_upstream --threads $MOCK_THREADS --latency-ms 0 --fail-status 503 --fail-percent $FLAKY_PERCENT\`"
        echo "  ($FLAKY_PERCENT of every 100 of its requests answer 503). Tollgate alternates the two; an attempt"
        echo "  that fails goes to the other after a jittered back-off of 20 ms ± 10 ms (docs/routing.md)."
        echo "  Same Tollgate, same key, same prompt; the body names \`$ROUTED_MODEL\`."
        echo "- JSON only; r1 and r2 measured alternately, 1 connection then $CONNS."
        echo
        echo "| run | mode | req/s | p50 ms | p90 ms | p99 ms | mean ms (wrk) | mean ms (conn × time / req) | non-2xx / socket errors | requests retried |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for id in route_r1_c1 route_r2_c1 route_r1 route_r2; do
            case $id in route_r1*) label="(r1) $MODEL, 1 provider" ;; *) label="(r2) $ROUTED_MODEL, 2 providers" ;; esac
            retried=""
            case $id in route_r2*) retried="$(route_retried "$id" pct) ($(route_delta "$id" 4) of ${REQS[$id]:-?})" ;; esac
            echo "| $label | $(mode_of "$id") | ${RPS[$id]:-failed} | $(ms "${P50[$id]:-}") | $(ms "${P90[$id]:-}") | $(ms "${P99[$id]:-}") | $(ms "${MEAN[$id]:-}") | $(ms "${CYCLE[$id]:-}") | ${ERRS[$id]:-n/a} | $retried |"
        done
        echo
        echo "| | 1 connection | $CONNS connections |"
        echo "|---|---:|---:|"
        echo "| **r2 / r1 throughput** | **$(ratio "${RPS[route_r2_c1]:-}" "${RPS[route_r1_c1]:-}")** | **$(ratio "${RPS[route_r2]:-}" "${RPS[route_r1]:-}")** |"
        echo "| r2 requests retried (the flaky provider's failed attempts / requests) | $(route_retried route_r2_c1 pct) | $(route_retried route_r2 pct) |"
        echo "| r2 attempts: routed-main ok / routed-flaky ok / routed-flaky failed | $(route_delta route_r2_c1 1) / $(route_delta route_r2_c1 3) / $(route_delta route_r2_c1 4) | $(route_delta route_r2 1) / $(route_delta route_r2 3) / $(route_delta route_r2 4) |"
        echo "| r2 attempts of another outcome (routed-main failed, 429, 4xx…) | $(route_delta route_r2_c1 2+5) | $(route_delta route_r2 2+5) |"
        echo "| r2 non-2xx responses | ${NON2XX[route_r2_c1]:-n/a} | ${NON2XX[route_r2]:-n/a} |"
        echo "| r2 added mean vs r1, conn × time / req (ms) | $(added "${CYCLE[route_r2_c1]:-}" "${CYCLE[route_r1_c1]:-}") | $(added "${CYCLE[route_r2]:-}" "${CYCLE[route_r1]:-}") |"
        echo "| r2 added mean vs r1, wrk (ms) | $(added "${MEAN[route_r2_c1]:-}" "${MEAN[route_r1_c1]:-}") | $(added "${MEAN[route_r2]:-}" "${MEAN[route_r1]:-}") |"
        echo "| r2 added p50 / p99 vs r1, wrk (ms) | $(added "${P50[route_r2_c1]:-}" "${P50[route_r1_c1]:-}") / $(added "${P99[route_r2_c1]:-}" "${P99[route_r1_c1]:-}") | $(added "${P50[route_r2]:-}" "${P50[route_r1]:-}") / $(added "${P99[route_r2]:-}" "${P99[route_r1]:-}") |"
        echo "| **added latency of a retry (ms)** = (mean_r2 − mean_r1) / fraction retried, conn × time / req | **$(retry_cost route_r2_c1 route_r1_c1 CYCLE)** | |"
        echo "| the same from wrk's mean (inflated, see below) | $(retry_cost route_r2_c1 route_r1_c1 MEAN) | |"
        echo
        echo "Added latency of a retry = (mean_r2 − mean_r1) / fraction of r2's requests retried, at 1"
        echo "connection, where a mean is the time a request holds its connection: connections × run"
        echo "time / requests completed (closed loop: the latency plus wrk's few µs between two requests,"
        echo "the same in r1 and r2). The fraction is the flaky provider's failed attempts"
        echo "(\`tollgate_provider_attempts_total{outcome=\"failed\"}\` in /metrics, after the warm-up and 0.2 s"
        echo "after the run) over the requests wrk completed; expected ≈ 50 % × $FLAKY_PERCENT % = $(awk -v p="$FLAKY_PERCENT" 'BEGIN { printf "%g", p / 2 }') %."
        echo "A retried request waits the back-off (20 ms ± 10) and pays a failed attempt and a second one."
        echo "Every failed attempt should be retried on the healthy provider, so r2's non-2xx count should"
        echo "be 0. Under $CONNS connections a difference of means is mostly queueing, so the cost of a"
        echo "retry is computed at 1 connection only."
        echo
        echo "wrk's percentiles and mean (its \`done()\` hook, bench/post.lua) are taken after its"
        echo "coordinated-omission correction: a request that took more than twice the mean interval of"
        echo "its connection (there: run time / requests per connection) adds samples at its latency"
        echo "minus 1, 2, … intervals. At 1 connection a retried request (~20 ms) among ~2 ms intervals"
        echo "so adds ~10 samples, which is why r2's p90 and wrk's mean move far more than 5 % of"
        echo "requests × 20 ms would; the cost of a retry above uses the other mean."
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
