#!/usr/bin/env bash
# A partner server's HMAC sign-in, step 1, with nothing but openssl and curl.
# Usage: GATEHOUSE=https://sso.example.com CONSUMER_KEY=ck_… CONSUMER_SECRET=cs_… \
#        ./hmac-sign-in.sh TENANT EMAIL ROLE [NAME]
# Prints the login_url to send the user's browser to (valid for 60 s, once).
set -euo pipefail
tenant=$1 email=$2 role=$3 name=${4:-}

ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)            # X-Timestamp, RFC 3339
nonce=$(openssl rand -hex 16)                # single use, 16–128 of A–Z a–z 0–9 _ -
body=$(printf '{"tenantId":"%s","email":"%s","role":"%s","name":"%s","nonce":"%s"}' \
  "$tenant" "$email" "$role" "$name" "$nonce")
# X-Signature = lowercase hex HMAC-SHA256(secret, timestamp|consumer_key|raw body)
sig=$(printf '%s' "$ts|$CONSUMER_KEY|$body" | openssl dgst -sha256 -hmac "$CONSUMER_SECRET" | awk '{print $NF}')

curl -sS --fail-with-body -X POST "$GATEHOUSE/sso/hmac/token" \
  -H 'Content-Type: application/json' \
  -H "X-Consumer-Key: $CONSUMER_KEY" -H "X-Timestamp: $ts" -H "X-Signature: $sig" \
  --data-binary "$body" | jq -r .login_url
