#!/usr/bin/env bash
# Partner-side sign-out or deprovisioning with the HMAC credentials, openssl
# and curl: POST /sso/hmac/revoke, signed like /sso/hmac/token. Prints
# Gatehouse's JSON answer {"action","user_found","sessions_revoked"}.
#
#   GATEHOUSE_URL=https://sso.example.com CONSUMER_KEY=ck_... CONSUMER_SECRET=cs_... \
#   USER_EMAIL=ann@example.com ACTION=deprovision ./revoke-hmac.sh
#
# The body is built with printf for brevity: real code should use a JSON
# library. Sign the exact bytes you send.
set -euo pipefail
: "${GATEHOUSE_URL:?set GATEHOUSE_URL}" "${CONSUMER_KEY:?set CONSUMER_KEY}" "${CONSUMER_SECRET:?set CONSUMER_SECRET}"
: "${USER_EMAIL:?set USER_EMAIL}" "${ACTION:?set ACTION (logout or deprovision)}"

timestamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)             # RFC 3339, UTC
nonce=$(openssl rand -hex 16)                         # single-use across /sso/hmac/token and /sso/hmac/revoke
body=$(printf '{"email":"%s","action":"%s","nonce":"%s"}' "$USER_EMAIL" "$ACTION" "$nonce")
signature=$(printf '%s|%s|%s' "$timestamp" "$CONSUMER_KEY" "$body" \
  | openssl dgst -sha256 -hmac "$CONSUMER_SECRET" -hex | sed 's/^.*= *//')

curl -sS --fail-with-body -X POST "${GATEHOUSE_URL%/}/sso/hmac/revoke" \
  -H "Content-Type: application/json" \
  -H "X-Consumer-Key: $CONSUMER_KEY" \
  -H "X-Timestamp: $timestamp" \
  -H "X-Signature: $signature" \
  --data-binary "$body"
echo
