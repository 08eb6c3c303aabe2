#!/bin/sh
# HMAC partner sign-in, step 1 (server to server), with openssl and curl.
# Prints Gatehouse's JSON answer; send the person's browser to its login_url
# (a 302 from your portal, or a link) within login_token_ttl (60 s by default).
#
#   GATEHOUSE_URL=https://sso.example.com CONSUMER_KEY=ck_... CONSUMER_SECRET=cs_... \
#   TENANT_ID=t1 USER_EMAIL=ann@example.com USER_ROLE=readOnly ./hmac-login.sh
#
# The body is built with printf for brevity: real code should use a JSON
# library so that quotes in a name cannot break it. Sign the exact bytes you send.
set -eu
: "${GATEHOUSE_URL:?set GATEHOUSE_URL}" "${CONSUMER_KEY:?set CONSUMER_KEY}" "${CONSUMER_SECRET:?set CONSUMER_SECRET}"
: "${TENANT_ID:?set TENANT_ID}" "${USER_EMAIL:?set USER_EMAIL}" "${USER_ROLE:?set USER_ROLE}"

timestamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)             # RFC 3339, UTC
nonce=$(openssl rand -hex 16)                         # 16-128 of A-Z a-z 0-9 _ -, never reused
body=$(printf '{"tenantId":"%s","email":"%s","role":"%s","name":"%s","nonce":"%s"}' \
  "$TENANT_ID" "$USER_EMAIL" "$USER_ROLE" "${USER_NAME:-}" "$nonce")

# X-Signature = hex(HMAC-SHA256(key = the whole cs_... secret, timestamp|consumer key|body))
signature=$(printf '%s|%s|%s' "$timestamp" "$CONSUMER_KEY" "$body" \
  | openssl dgst -sha256 -hmac "$CONSUMER_SECRET" -hex | sed 's/^.*= *//')

curl -sS --fail-with-body -X POST "${GATEHOUSE_URL%/}/sso/hmac/token" \
  -H "Content-Type: application/json" \
  -H "X-Consumer-Key: $CONSUMER_KEY" \
  -H "X-Timestamp: $timestamp" \
  -H "X-Signature: $signature" \
  --data-binary "$body"
echo
