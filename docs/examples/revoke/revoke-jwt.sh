#!/usr/bin/env bash
# Partner-side sign-out or deprovisioning with openssl and curl: an RS256
# revoke token built by hand and posted to /sso/jwt/revoke. Prints
# Gatehouse's JSON answer {"action","user_found","sessions_revoked"}.
#
#   GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key ORG_ID=acme \
#   USER_EMAIL=ann@example.com ACTION=logout ./revoke-jwt.sh
#
# The claims are built with printf for brevity: real code should use a JSON
# library so that a quote in an email cannot break them.
set -euo pipefail
: "${GATEHOUSE_URL:?set GATEHOUSE_URL}" "${PARTNER_KEY:?set PARTNER_KEY}" "${ORG_ID:?set ORG_ID}"
: "${USER_EMAIL:?set USER_EMAIL}" "${ACTION:?set ACTION (logout or deprovision)}"

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

now=$(date +%s)
jti=$(openssl rand -hex 16)                           # required on revoke, never reused
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
claims=$(printf '{"organizationId":"%s","email":"%s","action":"%s","iat":%d,"exp":%d,"jti":"%s"}' \
  "$ORG_ID" "$USER_EMAIL" "$ACTION" "$now" "$((now + 60))" "$jti" | b64url)
signature=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -sign "$PARTNER_KEY" -binary | b64url)

curl -sS --fail-with-body -X POST "${GATEHOUSE_URL%/}/sso/jwt/revoke" \
  --data-urlencode "token=$header.$claims.$signature"
echo
