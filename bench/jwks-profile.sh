#!/usr/bin/env bash
# What separates Tessera's JWKS from a bare actix-web handler serving the same bytes
# (the "JWKS vs bare" row of bench/run.sh). `perf record -p` on the server alone slows
# this case by half (the sampled process pays for the samples, wrk does not), so this
# profile samples the whole machine (`perf record -a`) and compares the two servers by
# CPU per request:
#
#   1. ROUNDS alternating unprofiled runs of each (wrk -t1 -c$CONNS, DURATION s): the
#      ratio and its spread;
#   2. one profiled run of each: requests, CPU samples by process (server, wrk, the
#      rest), server samples per 1,000 requests, and the server's hottest symbols;
#   3. Tessera's samples by middleware and stage, from call graphs (`--call-graph
#      dwarf`): the share each layer of the stack adds on top of the handler.
#
#   bench/jwks-profile.sh [--smoke]        (ROUNDS=… DURATION=… CONNS=… override)
#
# Loopback only, SQLite; results go to stdout and bench/results/<time>-jwks-profile.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SMOKE=""
[ "${1:-}" = "--smoke" ] && SMOKE=1
ROUNDS=${ROUNDS:-$([ -n "$SMOKE" ] && echo 1 || echo 3)}
DURATION=${DURATION:-$([ -n "$SMOKE" ] && echo 1 || echo 5)}
CONNS=${CONNS:-4}
PORT=18280
BARE_PORT=18290
BASE="http://127.0.0.1:$PORT"

for tool in wrk curl perf; do
    command -v "$tool" >/dev/null || { echo "jwks-profile: $tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "# building (release)" >&2
cargo build --release --quiet --bin tessera --example bare_actix
TESSERA_BIN="$ROOT/target/release/tessera"
BARE_BIN="$ROOT/target/release/examples/bare_actix"
OUT_DIR="$ROOT/bench/results"
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/$(date -u +%Y%m%dT%H%M%SZ)-jwks-profile.txt"

export TESSERA_DATABASE_URL="sqlite://$WORK/tessera.db" TESSERA_KEYS_DIR="$WORK/keys" \
    TESSERA_LISTEN="127.0.0.1:$PORT" TESSERA_ISSUER="$BASE" RUST_LOG=warn
"$TESSERA_BIN" serve > "$WORK/tessera.log" 2>&1 &
TESSERA_PID=$!
PIDS+=("$TESSERA_PID")
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/.well-known/jwks.json" > "$WORK/jwks.json" || { cat "$WORK/tessera.log" >&2; exit 1; }
"$BARE_BIN" "127.0.0.1:$BARE_PORT" "$WORK/jwks.json" > "$WORK/bare.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$BARE_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done

TESSERA_URL="$BASE/.well-known/jwks.json"
BARE_URL="http://127.0.0.1:$BARE_PORT/.well-known/jwks.json"
say() { echo "$*" | tee -a "$OUT"; }

# rps URL [SECONDS] → requests per second over the run
rps() {
    wrk -t1 -c"$CONNS" -d"${2:-$DURATION}s" "$1" | awk '/^Requests\/sec/{print $2}'
}
requests() { # URL → requests in DURATION s
    wrk -t1 -c"$CONNS" -d"${DURATION}s" "$1" | awk '/requests in/{print $1}'
}

say "# JWKS vs a bare actix-web handler, same bytes; wrk -t1 -c$CONNS -d${DURATION}s; $(nproc) cores; $(date -u +%FT%TZ)"
say "# response bytes: Tessera $(curl -s -D - -o /dev/null "$TESSERA_URL" | wc -c) header + $(wc -c < "$WORK/jwks.json") body;" \
    "bare $(curl -s -D - -o /dev/null "$BARE_URL" | wc -c) header + the same body"
rps "$TESSERA_URL" 1 >/dev/null
rps "$BARE_URL" 1 >/dev/null

say "## 1. unprofiled, alternating"
for round in $(seq 1 "$ROUNDS"); do
    t=$(rps "$TESSERA_URL")
    b=$(rps "$BARE_URL")
    say "$(printf 'round %d: Tessera %10s/s  bare %10s/s  ratio %s' "$round" "$t" "$b" \
        "$(awk -v a="$t" -v b="$b" 'BEGIN{printf "%.2f", a/b}')")"
done

# profiled NAME URL → NAME.data and the request count, sampling every CPU
profiled() {
    local name=$1 url=$2 n
    perf record -q -a -F 499 --call-graph dwarf,16384 -o "$WORK/$name.data" -- sleep "$((DURATION + 1))" \
        >/dev/null 2>&1 &
    local ppid=$!
    sleep 0.5
    n=$(requests "$url")
    wait "$ppid" 2>/dev/null || true
    echo "$n"
}

say "## 2. profiled (perf record -a -F 499 --call-graph dwarf): samples by process"
T_REQ=$(profiled tessera "$TESSERA_URL")
B_REQ=$(profiled bare "$BARE_URL")
share() { # DATA → "comm samples" lines
    perf report -q -i "$1" --no-children --sort pid -F overhead,sample,pid --stdio 2>/dev/null \
        | awk 'NF >= 3 {comm=$3; sub(/^[0-9]+:/, "", comm); s[comm] += $2} END {for (c in s) print c, s[c]}' \
        | sort -k2 -nr
}
for name in tessera bare; do
    share "$WORK/$name.data" > "$WORK/$name.share"
done
T_S=$(awk -v p=tessera '$1 == p || $1 ~ /^actix-(rt|server)/ {s += $2} END {print s + 0}' "$WORK/tessera.share")
B_S=$(awk -v p=bare_actix '$1 == p || $1 ~ /^actix-(rt|server)/ {s += $2} END {print s + 0}' "$WORK/bare.share")
for name in tessera bare; do
    say "### $name: $( [ "$name" = tessera ] && echo "$T_REQ" || echo "$B_REQ") requests; samples by thread name"
    head -8 "$WORK/$name.share" | sed 's/^/    /' | tee -a "$OUT"
done
say "$(awk -v ts="$T_S" -v tr="$T_REQ" -v bs="$B_S" -v br="$B_REQ" 'BEGIN{
    printf "server samples per 1,000 requests: Tessera %.2f, bare %.2f (Tessera costs %.2fx the CPU per request)",
        ts*1000/tr, bs*1000/br, (ts/tr)/(bs/br)}')"

say "## 3. per 1,000 requests, server samples in each frame (inclusive; the layers nest: log > request id > deadline > NUL check > handler)"
frames() { # DATA PID → the children report, as shares of the server's samples
    perf report -q -i "$1" --pid "$2" --percentage relative --children --sort sym --stdio -g none 2>/dev/null
}
frames "$WORK/tessera.data" "$TESSERA_PID" > "$WORK/tessera.frames"
frames "$WORK/bare.data" "$BARE_PID" > "$WORK/bare.frames"
per_k() { # FRAMES SAMPLES REQUESTS PATTERN → samples per 1,000 requests in the first matching frame
    awk -v s="$2" -v r="$3" -v pat="$4" '$0 ~ pat {sub(/%/, "", $1); printf "%.2f", $1 / 100 * s * 1000 / r; found = 1; exit}
        END {if (!found) printf "-"}' "$1"
}
say "$(printf '%-52s %8s %8s' frame Tessera bare)"
while IFS='|' read -r label pattern; do
    say "$(printf '%-52s %8s %8s' "$label" "$(per_k "$WORK/tessera.frames" "$T_S" "$T_REQ" "$pattern")" \
        "$(per_k "$WORK/bare.frames" "$B_S" "$B_REQ" "$pattern")")"
done <<'FRAMES'
connection task (everything but waiting)|Dispatcher<T,S,B,X,U> as core::future::future::Future>::poll$
  reading requests (recv)|poll_read_buf
  parsing and the service (poll_request)|InnerDispatcher<T,S,B,X,U>::poll_request$
    access log (Logger::call)|LoggerMiddleware<S> as actix_service::Service
    access log response, with the layers inside|LoggerResponse<S,B> as core::future::future::Future>::poll$
      deadline, with the layers inside|tessera::http::deadline::[{][{]closure[}][}]$
        NUL check, with the handler inside|tessera::http::refuse_nul::[{][{]closure[}][}]$
          handler|handler_service::[{][{]closure[}][}]::[{][{]closure[}][}]$
    request metrics|tessera::metrics::request$
  writing responses (send)|InnerDispatcher<T,S,B,X,U>::poll_flush$
waiting (epoll)|current_thread::Context::park$
FRAMES
say "## 4. Tessera's server threads: hottest symbols (self, share of its samples)"
perf report -q -i "$WORK/tessera.data" --pid "$TESSERA_PID" --percentage relative --no-children --sort dso,sym \
    --percent-limit 1.5 --stdio -g none 2>/dev/null | grep -v '^$' | head -24 | tee -a "$OUT"
say "## 5. bare server: hottest symbols (self, share of its samples)"
perf report -q -i "$WORK/bare.data" --pid "$BARE_PID" --percentage relative --no-children --sort dso,sym \
    --percent-limit 1.5 --stdio -g none 2>/dev/null | grep -v '^$' | head -16 | tee -a "$OUT"
echo "# results: $OUT" >&2
