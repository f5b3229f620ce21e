#!/usr/bin/env bash
# Cost as the log grows: seeds one tenant with EVENTS audit events and TOKENS ledger rows
# (default 10 million and 1 million), then measures against the running server, on one
# backend:
#
#   - p50/p99 of GET /api/v1/audit/events per filter (none, actor, a rare action,
#     outcome, a one-hour time range) and of its first and 1,000th page;
#   - the same for GET /api/v1/tokens (none, subject, client, active, time range,
#     1,000th page);
#   - the export rate (events/s) and the server's peak memory during it;
#   - the verification rate (events/s, full and routine) next to the chain-hashing
#     ceiling of this machine measured in the same run.
#
#   bench/scale.sh [--smoke] [--postgres URL]     (EVENTS=… TOKENS=… DURATION=… override)
#   BULK=1 bench/scale.sh                          (the seeder drops the secondary indexes
#                                                   during the load and builds them after)
#   PROFILE=1 bench/scale.sh                       (the export and the full verification
#                                                   sampled with `perf record`, CPU counted
#                                                   per thread: bench/results/<time>-profile/)
#
# --smoke seeds 20,000 events and 5,000 ledger rows and runs each case for 1 s: it checks
# that the harness works and asserts nothing about speed. Loopback only; every loop is
# bounded. Results go to stdout and bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=""
PG_URL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --postgres) PG_URL="$2"; shift ;;
        *) echo "usage: bench/scale.sh [--smoke] [--postgres URL]" >&2; exit 2 ;;
    esac
    shift
done
EVENTS=${EVENTS:-$([ -n "$SMOKE" ] && echo 20000 || echo 10000000)}
TOKENS=${TOKENS:-$([ -n "$SMOKE" ] && echo 5000 || echo 1000000)}
DURATION=${DURATION:-$([ -n "$SMOKE" ] && echo 1 || echo 5)}
# The deep page: the 1,000th of 100 events (or the last one a smoke log has).
PAGES=${PAGES:-$([ -n "$SMOKE" ] && echo 20 || echo 1000)}
PORT=18180
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null || { echo "scale: wrk is required: apt-get install wrk" >&2; exit 2; }
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "scale: $tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$PG_URL" ] && [ -n "${PG_DB:-}" ]; then
        psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "# building (release)" >&2
cargo build --release --quiet --bin tessera --example scale_seed
TESSERA_BIN="$ROOT/target/release/tessera"
SEED_BIN="$ROOT/target/release/examples/scale_seed"

if [ -n "$PG_URL" ]; then
    PG_DB="tessera_scale_$$"
    psql "$PG_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
    DB_URL=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path='/$PG_DB').geturl())" "$PG_URL")
    BACKEND=postgres
else
    DB_URL="sqlite://$WORK/tessera.db"
    BACKEND=sqlite
fi
export TESSERA_DATABASE_URL="$DB_URL" TESSERA_KEYS_DIR="$WORK/keys" TESSERA_LISTEN="127.0.0.1:$PORT" \
    TESSERA_ISSUER="$BASE" TESSERA_BCRYPT_COST=4 RUST_LOG=warn
tessera() { "$TESSERA_BIN" "$@"; }

tessera tenant create scale >/dev/null
tessera client create scale-web --tenant scale --redirect-uri http://127.0.0.1:9/cb \
    --grant authorization_code --scope openid --scope tessera:api >/dev/null
printf 'correct horse battery\n' | tessera user create auditor@example.com --password-stdin >/dev/null
tessera member add scale auditor@example.com --role auditor >/dev/null

echo "# seeding $EVENTS events and $TOKENS ledger rows ($BACKEND)" >&2
"$SEED_BIN" seed "$DB_URL" scale "$EVENTS" "$TOKENS" > "$WORK/seed.txt"
val() { sed -n "s/^$1=//p" "$WORK/seed.txt"; }
if [ -n "$PG_URL" ]; then
    # Settled as after any bulk load: statistics, and the load's dirty pages written out
    # (a checkpoint due minutes later would otherwise slow the first cases' commits).
    psql "$DB_URL" -qc "VACUUM ANALYZE" >/dev/null
    psql "$DB_URL" -qc "CHECKPOINT" >/dev/null
fi

"$TESSERA_BIN" serve > "$WORK/tessera.log" 2>&1 &
TESSERA_PID=$!
PIDS+=("$TESSERA_PID")
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/healthz" >/dev/null || { cat "$WORK/tessera.log" >&2; exit 1; }
python3 bench/seed.py token "$BASE" scale-web auditor@example.com "$WORK/token"
TOKEN=$(cat "$WORK/token")
AUTH="Authorization: Bearer $TOKEN"

# The cursor of page N of a listing (following next_cursor N-1 times, bounded by N).
cursor_of_page() { # path, N
    python3 - "$BASE" "$1" "$2" "$TOKEN" <<'EOF'
import http.client, json, sys, urllib.parse
base, path, n, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
cursor = None
for _ in range(n - 1):
    sep = "&" if "?" in path else "?"
    url = path + (sep + "cursor=" + urllib.parse.quote(cursor) if cursor else "")
    conn.request("GET", url, headers={"Authorization": "Bearer " + token})
    page = json.loads(conn.getresponse().read())
    if not page.get("next_cursor"):
        break
    cursor = page["next_cursor"]
print(urllib.parse.quote(cursor or ""))
EOF
}

OUT_DIR="$ROOT/bench/results"
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/$(date -u +%Y%m%dT%H%M%SZ)-scale-$BACKEND$([ -n "$SMOKE" ] && echo -smoke || true).txt"
{
    echo "# Tessera at scale, $BACKEND, $(nproc) cores, $(date -u), $EVENTS events, $TOKENS ledger rows"
    echo "# seeded in $(val event_seconds) s (events) + $(val token_seconds) s (ledger)$([ "${BULK:-}" = 1 ] && echo " + $(val index_seconds) s (indexes, dropped during the load: BULK=1)"); wrk -t1 -c1 -d${DURATION}s"
    printf '%-34s %10s %9s %9s %7s\n' case "req/s" "p50 ms" "p99 ms" errors
} | tee "$OUT"

# One listing case: wrk on one connection, latency percentiles in ms.
ERRORS=0
case_get() { # label, path
    local out
    out=$(wrk -t1 -c1 -d"${DURATION}s" --latency -H "$AUTH" "$BASE$2")
    python3 - "$1" <<EOF | tee -a "$OUT"
import re, sys
text = """$out"""
def ms(label):
    m = re.search(r"^\s+" + re.escape(label) + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m: return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = int(bad.group(1)) if bad else 0
print("%-34s %10.0f %9.2f %9.2f %7d" % (sys.argv[1], float(rps.group(1)) if rps else 0, ms("50%"), ms("99%"), errors))
EOF
    if echo "$out" | grep -q "Non-2xx"; then ERRORS=$((ERRORS + 1)); fi
}

EV=/api/v1/audit/events
case_get "events: first page" "$EV"
case_get "events: actor" "$EV?actor=$(val actor)"
case_get "events: rare action" "$EV?action=$(val rare_action)"
case_get "events: outcome=denied" "$EV?outcome=denied"
case_get "events: one hour" "$EV?since=$(val since)&until=$(val until)"
case_get "events: page $PAGES" "$EV?cursor=$(cursor_of_page "$EV" "$PAGES")"
TK=/api/v1/tokens
case_get "tokens: first page" "$TK"
case_get "tokens: subject" "$TK?subject=$(val subject)"
case_get "tokens: client" "$TK?client=$(val client)"
case_get "tokens: active" "$TK?active=true"
case_get "tokens: one hour" "$TK?since=$(val token_since)&until=$(val token_until)"
case_get "tokens: page $PAGES" "$TK?cursor=$(cursor_of_page "$TK" "$PAGES")"

# Export and verification: one request each, timed; the server's peak memory during the
# export (the kernel's high-water mark, reset before it where allowed).
reset_peak() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }
peak_mb() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo -; }
timed_get() { # path → seconds; the body in $WORK/body
    curl -fsS -H "$AUTH" -o "$WORK/body" -w '%{time_total}' "$BASE$1"
}
# With PROFILE=1: each of them sampled (flat, 499 Hz), with its CPU time per thread.
PROFILE_DIR=""
if [ "${PROFILE:-}" = 1 ]; then
    command -v perf >/dev/null || { echo "scale: PROFILE=1 needs perf (apt-get install linux-perf)" >&2; exit 2; }
    PROFILE_DIR="$OUT_DIR/$(basename "$OUT" .txt)-profile"
    mkdir -p "$PROFILE_DIR"
fi
profiled_get() { # name, path → seconds, as timed_get
    [ -n "$PROFILE_DIR" ] || { timed_get "$2"; return; }
    local file="$PROFILE_DIR/$1" perf_pid secs
    # The whole machine: the client writing the body and the kernel are part of the case.
    perf record -q -a -F 499 -o "$file.data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
    secs=$(timed_get "$2")
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    {
        echo "# $2: $secs s"
        # Per thread id from the samples (499 a second on a busy core): the threads that
        # serve one request start and end within it, so /proc counters cannot see them.
        echo "# CPU per thread during it (100 = one core), from perf samples of every CPU"
        perf report -q -n -i "$file.data" --no-children --sort pid --stdio 2>/dev/null \
            | awk -v s="$secs" 'NF >= 3 {printf "%-32s %6.1f\n", $3, $2 * 100 / (499 * s)}' | sort -k2 -nr | head -12
        echo "# samples by thread and library (share of all samples)"
        perf report -q -i "$file.data" --no-children --sort comm,dso --percent-limit 1 --stdio 2>/dev/null \
            | grep -v '^$' | head -16
        echo "# hottest symbols (share of all samples)"
        perf report -q -i "$file.data" --no-children --sort comm,dso,sym --percent-limit 0.7 --stdio 2>/dev/null \
            | grep -v '^$' | head -40
    } > "$file.txt"
    rm -f "$file.data"
    echo "$secs"
}
reset_peak "$TESSERA_PID"
IDLE=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$TESSERA_PID/status")
SECS=$(profiled_get export "/api/v1/audit/export")
LINES=$(wc -l < "$WORK/body")
BYTES=$(stat -c %s "$WORK/body")
PEAK=$(peak_mb "$TESSERA_PID")
rm -f "$WORK/body"
CEILING=$("$SEED_BIN" ceiling "$([ -n "$SMOKE" ] && echo 200000 || echo 2000000)" | sed -n 's/^ceiling_events_per_second=//p')
FULL_SECS=$(profiled_get verify-full "/api/v1/audit/verify?full=true")
FULL_OK=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["intact"], r["tenants"][0]["events"])' "$WORK/body")
ROUTINE_SECS=$(timed_get "/api/v1/audit/verify")
ROUTINE_OK=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["intact"], r["tenants"][0]["events"])' "$WORK/body")
python3 - "$LINES" "$SECS" "$IDLE" "$PEAK" "$CEILING" "$FULL_SECS" "$FULL_OK" "$ROUTINE_SECS" "$ROUTINE_OK" "$BYTES" <<'EOF' | tee -a "$OUT"
import sys
lines, secs, idle, peak, ceiling = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
full_secs, (full_ok, full_n), routine_secs, (routine_ok, routine_n) = (
    float(sys.argv[6]), sys.argv[7].split(), float(sys.argv[8]), sys.argv[9].split())
size = int(sys.argv[10])
print("export: %d events in %.2f s = %.0f events/s (%.0f MB, %.0f MB/s); server memory %s MB idle, peak %s MB"
      % (lines, secs, lines / secs, size / 1e6, size / 1e6 / secs, idle, peak))
rate = int(full_n) / full_secs
print("verify --full: %s events in %.2f s = %.0f events/s, intact %s; hashing ceiling %.0f events/s (one core): %.0f %%"
      % (full_n, full_secs, rate, full_ok, ceiling, 100 * rate / ceiling))
print("verify (routine, after it): %s events checked in %.3f s, intact %s" % (routine_n, routine_secs, routine_ok))
if full_ok != "True" or routine_ok != "True":
    sys.exit("scale: the seeded chain does not verify")
EOF
if [ "$ERRORS" != 0 ]; then
    echo "scale: $ERRORS cases answered non-2xx" >&2
    exit 1
fi
echo "# written to $OUT" >&2
