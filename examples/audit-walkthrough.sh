#!/usr/bin/env bash
# A downstream service ships audit events; a tenant auditor finds them, exports them,
# verifies the chain and checks it against a checkpoint taken earlier.
#
# Needs a running server (`cargo run --release`) and the `tessera` CLI on the same
# database; set TESSERA (default: cargo run --release --quiet --) and URL (default:
# http://127.0.0.1:8080) to point elsewhere. Uses curl and python3 (to read JSON).
set -euo pipefail
TESSERA=${TESSERA:-"cargo run --release --quiet --"}
URL=${URL:-http://127.0.0.1:8080}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 1. An operator sets up a tenant, an auditor, a service and a console application.
$TESSERA tenant create acme --name "Acme Corp" >/dev/null
printf 'correct horse battery\n' | $TESSERA user create auditor@acme.example --password-stdin >/dev/null
$TESSERA member add acme auditor@acme.example --role auditor >/dev/null
SECRET=$($TESSERA client create billing --tenant acme --confidential \
    --grant client_credentials --scope audit:write --json | json "['client_secret']")
$TESSERA client create console --tenant acme --redirect-uri http://127.0.0.1:9/callback \
    --grant authorization_code --scope openid --scope tessera:api >/dev/null

# 2. The billing service gets a token and ships a batch of events.
SERVICE_TOKEN=$(curl -sf -u "billing:$SECRET" -d grant_type=client_credentials "$URL/token" \
    | json "['access_token']")
curl -sf -H "Authorization: Bearer $SERVICE_TOKEN" -H 'Content-Type: application/json' \
    -d '[{"action":"invoice.read","outcome":"success","resource":{"type":"invoice","id":"inv_1"}},
         {"action":"invoice.delete","outcome":"denied","resource":{"type":"invoice","id":"inv_2"}}]' \
    "$URL/api/v1/audit/events"
echo

# 3. The auditor logs in through the console (authorization code + PKCE, with curl
#    playing the browser) and gets an access token for the API (scope tessera:api,
#    which only clients registered for it can obtain).
VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
JAR="$WORK/cookies"
PAGE=$(curl -sf -c "$JAR" -b "$JAR" "$URL/authorize?response_type=code&client_id=console&redirect_uri=http://127.0.0.1:9/callback&scope=openid%20tessera:api&state=s1&code_challenge=$CHALLENGE&code_challenge_method=S256")
field() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" <<<"$PAGE" | head -n1; }
LOCATION=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$JAR" -b "$JAR" \
    --data-urlencode "request=$(field request)" --data-urlencode "csrf=$(field csrf)" \
    --data-urlencode email=auditor@acme.example --data-urlencode 'password=correct horse battery' \
    "$URL/login")
CODE=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$LOCATION")
AUDITOR_TOKEN=$(curl -sf -d grant_type=authorization_code -d client_id=console -d "code=$CODE" \
    -d redirect_uri=http://127.0.0.1:9/callback -d "code_verifier=$VERIFIER" "$URL/token" \
    | json "['access_token']")

# 4. The auditor takes a checkpoint, finds the denied event, and exports the log.
curl -sf -H "Authorization: Bearer $AUDITOR_TOKEN" "$URL/api/v1/audit/checkpoint" > "$WORK/checkpoint.json"
curl -sf -H "Authorization: Bearer $AUDITOR_TOKEN" "$URL/api/v1/audit/events?outcome=denied" \
    | json "['items'][0]['action']"
curl -sf -H "Authorization: Bearer $AUDITOR_TOKEN" "$URL/api/v1/audit/export?format=csv" > "$WORK/audit.csv"
head -n 3 "$WORK/audit.csv"
curl -sf -H "Authorization: Bearer $AUDITOR_TOKEN" "$URL/api/v1/audit/verify" | json "['intact']"

# 5. Later, the chain is verified against the checkpoint kept outside the database.
$TESSERA audit verify --tenant acme --checkpoint "$WORK/checkpoint.json"
