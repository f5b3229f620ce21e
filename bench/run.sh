#!/usr/bin/env bash
# Tessera's benchmark suite, side by side with a mature peer (panva's oidc-provider,
# ../shared/peers/node-oidc-provider) under the same load generator (wrk).
#
#   bench/run.sh                          # SQLite, 10 s per case
#   bench/run.sh --postgres postgres://postgres@127.0.0.1:5432/postgres
#   bench/run.sh --smoke                  # a few seconds per case: the harness works
#
# Needs wrk (apt-get install wrk), curl and python3; node for the peer (optional).
# Environment: DURATION (s per case), CONNS (wrk connections), BCRYPT_COST (default 10),
# PROFILE=1: every Tessera case is also sampled with `perf record` (flat, 499 Hz) and its
# CPU time counted per thread; bench/results/<time>-profile/ gets one summary per case.
# Loopback only; every process it starts is stopped at the end; every loop is bounded.
# Prints one line per case and writes bench/results/<time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=""
PG_URL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --postgres) PG_URL="$2"; shift ;;
        *) echo "usage: bench/run.sh [--smoke] [--postgres URL]" >&2; exit 2 ;;
    esac
    shift
done
DURATION=${DURATION:-$([ -n "$SMOKE" ] && echo 2 || echo 10)}
CONNS=${CONNS:-4}
COST=${BCRYPT_COST:-10}
PORT=18080
PEER_PORT=13000
BASE="http://127.0.0.1:$PORT"
PEER="http://127.0.0.1:$PEER_PORT"
LUA="$ROOT/bench/lua"
export LUA_DIR="$LUA"

command -v wrk >/dev/null || { echo "bench: wrk is required: apt-get install wrk" >&2; exit 2; }
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$PG_URL" ]; then
        for db in ${PG_DB:-} ${PEER_DB:-}; do
            psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
        done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "# building (release)" >&2
cargo build --release --quiet --bin tessera --example bcrypt_ceiling --example bare_actix
TESSERA_BIN="$ROOT/target/release/tessera"
CEILING_BIN="$ROOT/target/release/examples/bcrypt_ceiling"
BARE_BIN="$ROOT/target/release/examples/bare_actix"
BARE_PORT=18090

# --- Tessera on a fresh database ---------------------------------------------------
if [ -n "$PG_URL" ]; then
    PG_DB="tessera_bench_$$"
    psql "$PG_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
    DB_URL=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path='/$PG_DB').geturl())" "$PG_URL")
    BACKEND=postgres
else
    DB_URL="sqlite://$WORK/tessera.db"
    BACKEND=sqlite
fi
export TESSERA_DATABASE_URL="$DB_URL" TESSERA_KEYS_DIR="$WORK/keys" TESSERA_LISTEN="127.0.0.1:$PORT" \
    TESSERA_ISSUER="$BASE" TESSERA_BCRYPT_COST="$COST" RUST_LOG=warn \
    TESSERA_LOGIN_RATE_PER_MINUTE=100000
# (the login throttle at its highest: the login case measures password checks, not 429s)
tessera() { "$TESSERA_BIN" "$@"; }

# Loopback is allowed as a stream destination for the slow-receiver case below.
TESSERA_STREAM_ALLOW_PRIVATE=true "$TESSERA_BIN" serve > "$WORK/tessera.log" 2>&1 &
TESSERA_PID=$!
PIDS+=("$TESSERA_PID")
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/healthz" >/dev/null || { cat "$WORK/tessera.log" >&2; exit 1; }
sleep 1
IDLE_RSS=$(awk '/VmRSS/{print $2}' "/proc/$TESSERA_PID/status")

tessera tenant create bench >/dev/null
SECRET=$(tessera client create bench-client --tenant bench --confidential --grant client_credentials \
    --scope read --scope write --scope audit:write --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
tessera client create bench-web --tenant bench --redirect-uri http://127.0.0.1:9/cb \
    --grant authorization_code --grant refresh_token --scope openid --scope offline_access >/dev/null
printf 'correct horse battery\n' | tessera user create bench@example.com --password-stdin >/dev/null
tessera member add bench bench@example.com --role member >/dev/null
BASIC=$(printf 'bench-client:%s' "$SECRET" | base64 -w0)
SERVICE_TOKEN=$(curl -fs -u "bench-client:$SECRET" -d grant_type=client_credentials "$BASE/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# --- the peer ------------------------------------------------------------------------
PEER_DIR="$WORK/peer"
PEER_OK=""
if command -v node >/dev/null && [ -d "$ROOT/../shared/peers/node-oidc-provider" ]; then
    cp -r "$ROOT/../shared/peers/node-oidc-provider" "$PEER_DIR"
    chmod -R u+w "$PEER_DIR"
    if (cd "$PEER_DIR" && npm ci --no-audit --no-fund --silent >/dev/null 2>&1); then
        PEER_ENV=()
        if [ -n "$PG_URL" ]; then
            # With PostgreSQL, the peer inserts every token it issues, as Tessera records them.
            PEER_DB="peer_bench_$$"
            psql "$PG_URL" -qc "CREATE DATABASE $PEER_DB" >/dev/null
            PEER_PGURL=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path='/$PEER_DB').geturl())" "$PG_URL")
            PEER_ENV=(PERSIST=pg "PGURL=$PEER_PGURL")
        fi
        (cd "$PEER_DIR" && exec env "${PEER_ENV[@]}" PORT=$PEER_PORT NODE_ENV=production node server.js > "$WORK/peer.log" 2>&1) &
        PEER_PID=$!
        PIDS+=("$PEER_PID")
        for _ in $(seq 1 100); do curl -fs "$PEER/jwks" >/dev/null 2>&1 && break; sleep 0.1; done
        curl -fs "$PEER/jwks" >/dev/null 2>&1 && PEER_OK=1
    fi
fi
[ -n "$PEER_OK" ] || echo "# the peer could not be started; its columns stay empty" >&2
PEER_BASIC=$(printf 'bench-client:bench-secret-0123456789abcdef' | base64 -w0)

# --- measuring ---------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
OUT_DIR="$ROOT/bench/results"
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/$(date -u +%Y%m%dT%H%M%SZ)-$BACKEND$([ -n "$SMOKE" ] && echo -smoke || true).txt"
{
    echo "# Tessera benchmark, $BACKEND, $(nproc) cores, $(date -u), wrk -t1 -c$CONNS -d${DURATION}s, bcrypt cost $COST"
    printf '%-34s %12s %9s %9s %7s %7s %8s %12s %7s\n' case "req/s" "p50 ms" "p99 ms" errors cpu% "peak MB" "peer req/s" ratio
} | tee "$OUT"

# The peak resident memory of a process during one case: the kernel's high-water mark
# is reset before the case (clear_refs 5); where that is not allowed it is the peak so far.
reset_peak() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }
peak_mb() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo -; }
MAX_MEM=0
PEER_MAX_MEM=0
max_of() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b != "-" && b + 0 > a + 0) print b; else print a }'; }

# CPU ticks of each thread of a process, by thread name (threads of one name summed).
# On PostgreSQL the server's processes (on the same cores) are one more line, in parentheses.
thread_ticks() {
    {
        for t in /proc/"$1"/task/*; do printf '%s\t%s\n' "$(cat "$t/comm" 2>/dev/null)" "$(awk '{print $14+$15}' "$t/stat" 2>/dev/null || echo 0)"; done
        [ -z "$PG_URL" ] || for p in $(pgrep -x postgres); do
            printf '(postgres, all processes)\t%s\n' "$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
        done
    } | awk -F'\t' '{a[$1]+=$2} END{for (k in a) print k "\t" a[k]}' | sort
}
PROFILE_DIR=""
PROFILE_N=0
if [ "${PROFILE:-}" = 1 ]; then
    command -v perf >/dev/null || { echo "bench: PROFILE=1 needs perf (apt-get install linux-perf)" >&2; exit 2; }
    PROFILE_DIR="$OUT_DIR/$(basename "$OUT" .txt)-profile"
    mkdir -p "$PROFILE_DIR"
fi

# With PROFILE=1, around one Tessera case: the case's share of CPU per thread and the
# hottest symbols per thread (`perf report --sort comm,dso,sym`), in one file per case;
# on PostgreSQL the server's processes are counted and sampled with Tessera's threads.
profile_start() { # PID SCRIPT
    P_FILE=""
    [ -n "$PROFILE_DIR" ] && [ "$1" = "$TESSERA_PID" ] || return 0
    PROFILE_N=$((PROFILE_N + 1))
    P_FILE="$PROFILE_DIR/$(printf %02d "$PROFILE_N")-${2%.lua}-c$CONNS"
    thread_ticks "$1" > "$P_FILE.ticks0"
    local pids=$1
    [ -z "$PG_URL" ] || pids="$pids,$(pgrep -d, -x postgres)"
    perf record -q -F 499 -p "$pids" -o "$P_FILE.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    P_PID=$!
}
profile_stop() { # PID SECONDS
    [ -n "$P_FILE" ] || return 0
    wait "$P_PID" 2>/dev/null || true
    thread_ticks "$1" > "$P_FILE.ticks1"
    {
        echo "# CPU per thread during the case (100 = one core)"
        join -t $'\t' "$P_FILE.ticks0" "$P_FILE.ticks1" \
            | awk -F'\t' -v s="$2" -v hz="$HZ" '{d=$3-$2; if (d > 0) printf "%-24s %6.1f\n", $1, d*100/(s*hz)}' | sort -k2 -nr
        echo "# samples by thread and library (share of all samples)"
        perf report -q -i "$P_FILE.data" --no-children --sort comm,dso --percent-limit 1 --stdio 2>/dev/null \
            | grep -v '^$' | head -16
        echo "# hottest symbols (share of all samples)"
        perf report -q -i "$P_FILE.data" --no-children --sort comm,dso,sym --percent-limit 0.7 --stdio 2>/dev/null \
            | grep -v '^$' | head -40
    } > "$P_FILE.txt"
    rm -f "$P_FILE.ticks0" "$P_FILE.ticks1" "$P_FILE.data"
}

# wrk_case LABEL PID URL SCRIPT [wrk args…] → sets R_RPS R_P50 R_P99 R_ERR R_CPU
wrk_case() {
    local pid=$1 url=$2 script=$3; shift 3
    local c0 t0 c1 t1 line
    reset_peak "$pid"
    c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
    profile_start "$pid" "$script"
    line=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$LUA/$script" "$@" "$url" | grep '^RESULT')
    c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
    profile_stop "$pid" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
    R_RPS=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
    R_P50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$line")
    R_P99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$line")
    R_ERR=$(sed -E 's/.* non2xx=([0-9]+) errors=([0-9]+).*/\1+\2/' <<<"$line")
    R_CPU=$(awk -v c=$((c1 - c0)) -v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN{printf "%.0f", c*100/((t1-t0)*hz)}')
    R_MEM=$(peak_mb "$pid")
}

row() { # LABEL RPS P50 P99 ERR CPU PEER_RPS (the peak memory is the last case's, R_MEM)
    local ratio="-"
    [ -n "$7" ] && [ "$7" != "-" ] && ratio=$(awk -v a="$2" -v b="$7" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')
    printf '%-34s %12s %9s %9s %7s %7s %8s %12s %7s\n' "$1" "$2" "$3" "$4" "$5" "$6" "${R_MEM:--}" "$7" "$ratio" | tee -a "$OUT"
    if [ -n "${P_FILE:-}" ] && [ -f "$P_FILE.txt" ]; then
        sed -i "1i # $1: $2/s, p50 $3 ms, p99 $4 ms" "$P_FILE.txt"
        P_FILE=""
    fi
    MAX_MEM=$(max_of "$MAX_MEM" "${R_MEM:--}")
}

peer_case() { # URL SCRIPT → PEER_RPS
    PEER_RPS="-"
    if [ -n "$PEER_OK" ]; then
        wrk_case "$PEER_PID" "$@"
        PEER_RPS=$R_RPS
        PEER_MAX_MEM=$(max_of "$PEER_MAX_MEM" "$R_MEM")
    fi
}

# warm-up, not recorded
wrk -t1 -c2 -d1s "$BASE/.well-known/jwks.json" >/dev/null
[ -n "$PEER_OK" ] && wrk -t1 -c2 -d1s "$PEER/jwks" >/dev/null

peer_case "$PEER/jwks" get.lua
wrk_case "$TESSERA_PID" "$BASE/.well-known/jwks.json" get.lua
JWKS_RPS=$R_RPS
row "jwks" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "$PEER_RPS"
# The ceiling: a bare actix-web handler answering with the same bytes, no middleware.
curl -fs "$BASE/.well-known/jwks.json" > "$WORK/jwks.json"
"$BARE_BIN" "127.0.0.1:$BARE_PORT" "$WORK/jwks.json" > "$WORK/bare.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$BARE_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
wrk_case "$BARE_PID" "http://127.0.0.1:$BARE_PORT/.well-known/jwks.json" get.lua
R_MEM=- row "  bare actix-web, same bytes" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"
echo "#   Tessera JWKS / bare handler = $(awk -v a="$JWKS_RPS" -v b="$R_RPS" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')" | tee -a "$OUT"
kill "$BARE_PID" 2>/dev/null || true
wait "$BARE_PID" 2>/dev/null || true

export FORM_PATH=/token FORM_BODY="grant_type=client_credentials&scope=read"
BASIC_AUTH="$PEER_BASIC" peer_case "$PEER" form.lua
BASIC_AUTH="$BASIC" wrk_case "$TESSERA_PID" "$BASE" form.lua
CC_RPS=$R_RPS
row "client_credentials (ledger+audit)" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "$PEER_RPS"
# The same at 64 connections: concurrent requests share one commit (group commit).
BASIC_AUTH="$PEER_BASIC" CONNS=64 peer_case "$PEER" form.lua
BASIC_AUTH="$BASIC" CONNS=64 wrk_case "$TESSERA_PID" "$BASE" form.lua
row "client_credentials, -c64" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "$PEER_RPS"

INTROSPECT_TOKEN=$(curl -fs -u "bench-client:$SECRET" -d grant_type=client_credentials "$BASE/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
FORM_PATH=/introspect FORM_BODY="token=$INTROSPECT_TOKEN" BASIC_AUTH="$BASIC" wrk_case "$TESSERA_PID" "$BASE" form.lua
row "introspection" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"

python3 -c 'import json; print(json.dumps({"action":"invoice.read","outcome":"success","resource":{"type":"invoice","id":"inv_1"},"details":{"amount":1}}))' > "$WORK/one.json"
python3 -c 'import json; print(json.dumps([{"action":"invoice.read","outcome":"success","resource":{"type":"invoice","id":"inv_%d" % i},"details":{"amount":i}} for i in range(1000)]))' > "$WORK/batch.json"
JSON_FILE="$WORK/one.json" BEARER="$SERVICE_TOKEN" wrk_case "$TESSERA_PID" "$BASE" json.lua
row "ingest, 1 event/request (events/s)" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"
for conns in 16 64; do
    JSON_FILE="$WORK/one.json" BEARER="$SERVICE_TOKEN" CONNS=$conns wrk_case "$TESSERA_PID" "$BASE" json.lua
    row "ingest, 1 event/request, -c$conns" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"
done
echo "#   (the peer has no audit ingestion: these rows have no peer figure)" | tee -a "$OUT"
JSON_FILE="$WORK/batch.json" BEARER="$SERVICE_TOKEN" wrk_case "$TESSERA_PID" "$BASE" json.lua
row "ingest, 1000/request (events/s)" "$(awk -v r="$R_RPS" 'BEGIN{printf "%.1f", r*1000}')" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"

# Authorization-code exchange: single-use codes prepared just before (a code lives at
# most 60 s, so the seeder runs in parallel and the file is used newest first). The
# count covers the case at 5,000 exchanges/s; a request past them would fail and count
# as an error.
NCODES=$([ -n "$SMOKE" ] && echo 300 || echo $((DURATION * 5000)))
python3 bench/seed.py codes "$BASE" "$NCODES" "$WORK/codes.txt"
CODES_FILE="$WORK/codes.txt" THREADS=1 CLIENT_ID=bench-web REDIRECT_URI_ENC="http%3A%2F%2F127.0.0.1%3A9%2Fcb" \
    VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk wrk_case "$TESSERA_PID" "$BASE" codes.lua
row "authorization_code exchange" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"
echo "#   (codes prepared: $NCODES; requests past them fail and count as errors, as in --smoke)" | tee -a "$OUT"

# Refresh: every connection follows a rotation chain of its own (one user's session
# each), so no refresh token is ever presented twice.
python3 bench/seed.py refresh "$BASE" "$((CONNS + 1))" "$WORK/refresh.txt"
REFRESH_FILE="$WORK/refresh.txt" CLIENT_ID=bench-web wrk_case "$TESSERA_PID" "$BASE" refresh.lua
row "refresh ($CONNS chains)" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"

# Password login at the configured cost, next to the machine's bcrypt ceiling. Every
# attempt checks a password (a wrong one: the account locks after a few, and a locked
# account still costs one bcrypt verification, against the dummy hash).
CEILING=$("$CEILING_BIN" "$COST" "$DURATION" | sed -E 's/.* rps=([0-9.]+).*/\1/')
python3 bench/seed.py login "$BASE" "$WORK/login.json"
LOGIN_REQ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["request"])' "$WORK/login.json")
LOGIN_CSRF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$WORK/login.json")
LOGIN_COOKIE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cookie"])' "$WORK/login.json")
LOGIN_BODY="request=$LOGIN_REQ&csrf=$LOGIN_CSRF&email=bench%40example.com&password=wrong+password"
FORM_PATH=/login FORM_BODY="$LOGIN_BODY" COOKIE="$LOGIN_COOKIE" BASIC_AUTH="" wrk_case "$TESSERA_PID" "$BASE" form.lua
LOGIN_RPS=$R_RPS
row "password login (cost $COST)" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"
R_MEM=- row "  bcrypt ceiling, all cores" "$CEILING" "-" "-" "-" "-" "-"
echo "#   login / ceiling = $(awk -v a="$LOGIN_RPS" -v b="$CEILING" 'BEGIN{printf "%.2f", a/b}')" | tee -a "$OUT"

# JWKS and client credentials while a login flood runs.
FLOOD_SECS=$((DURATION * 2 + 4))
FORM_PATH=/login FORM_BODY="$LOGIN_BODY" COOKIE="$LOGIN_COOKIE" BASIC_AUTH="" \
    wrk -t1 -c16 -d"${FLOOD_SECS}s" -s "$LUA/form.lua" "$BASE" >/dev/null &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
sleep 1
wrk_case "$TESSERA_PID" "$BASE/.well-known/jwks.json" get.lua
row "jwks during a login flood" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "$JWKS_RPS"
BASIC_AUTH="$BASIC" FORM_PATH=/token FORM_BODY="grant_type=client_credentials&scope=read" COOKIE="" \
    wrk_case "$TESSERA_PID" "$BASE" form.lua
row "client_credentials during the flood" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "$CC_RPS"
echo "#   (during-flood rows compare with Tessera's own unloaded rate, not the peer's)" | tee -a "$OUT"
wait "$FLOOD_PID" 2>/dev/null || true

# Token issuance while an audit stream of every tenant delivers to a receiver that takes
# a second per answer: delivery has threads of its own, so the rate should hold.
SLOW_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$SLOW_PORT" "$((DURATION * 3 + 30))" <<'PY' &
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Slow(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        time.sleep(1)
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow)
threading.Timer(float(sys.argv[2]), server.shutdown).start()  # bounded
server.serve_forever()
PY
SLOW_PID=$!
PIDS+=("$SLOW_PID")
# The baseline, measured just before, under the same conditions.
BASIC_AUTH="$BASIC" FORM_PATH=/token FORM_BODY="grant_type=client_credentials&scope=read" COOKIE="" \
    wrk_case "$TESSERA_PID" "$BASE" form.lua
NO_STREAM_RPS=$R_RPS
row "client_credentials, no stream" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "-"
STREAM_ID=$(tessera stream create "http://127.0.0.1:$SLOW_PORT/" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sleep 1
BASIC_AUTH="$BASIC" FORM_PATH=/token FORM_BODY="grant_type=client_credentials&scope=read" COOKIE="" \
    wrk_case "$TESSERA_PID" "$BASE" form.lua
row "client_credentials, slow stream" "$R_RPS" "$R_P50" "$R_P99" "$R_ERR" "$R_CPU" "$NO_STREAM_RPS"
echo "#   with a stream to a slow receiver / without (the row above) = $(awk -v a="$R_RPS" -v b="$NO_STREAM_RPS" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }')" | tee -a "$OUT"
tessera stream delete "$STREAM_ID" >/dev/null
kill "$SLOW_PID" 2>/dev/null || true

PEER_RSS="-"
[ -n "$PEER_OK" ] && PEER_RSS="$PEER_MAX_MEM MB"
# How many jobs each group commit took over the whole run.
curl -fs "$BASE/metrics" | python3 -c '
import sys
buckets, total, count = [], 0.0, 0.0
for line in sys.stdin:
    if line.startswith("tessera_group_commit_batch_size_bucket"):
        le = line.split("le=\"")[1].split("\"")[0]
        buckets.append((le, float(line.rsplit(" ", 1)[1])))
    elif line.startswith("tessera_group_commit_batch_size_sum"):
        total = float(line.rsplit(" ", 1)[1])
    elif line.startswith("tessera_group_commit_batch_size_count"):
        count = float(line.rsplit(" ", 1)[1])
prev, parts = 0.0, []
for le, c in buckets:
    if c > prev:
        parts.append("<=%s: %d" % (le, c - prev))
    prev = c
print("# group commit: %d transactions, %.1f jobs each on average; batches by size: %s"
      % (count, total / count if count else 0, ", ".join(parts)))
' | tee -a "$OUT" || true
echo "# memory: Tessera idle $(awk -v k="$IDLE_RSS" 'BEGIN{printf "%.1f", k/1024}') MB, peak $MAX_MEM MB (the largest per-case peak); peer peak $PEER_RSS" | tee -a "$OUT"
echo "# results: $OUT" >&2
