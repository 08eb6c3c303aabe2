#!/usr/bin/env bash
# The operator registers a partner whose keys Gatehouse fetches from its JWKS URL.
# Run on the Gatehouse host (the admin socket; GATEHOUSE_CONFIG names the config file).
# Usage: ORG=acme ./register-partner.sh NAME JWKS_URL
# Gatehouse fetches the URL at once: an unreachable URL, or a set with no usable key,
# is refused (validation_error naming jwks_url) and nothing is registered.
set -euo pipefail
name=$1 url=$2

body=$(jq -n --arg name "$name" --arg url "$url" '{name: $name, jwks_url: $url}')
partner=$(gatehouse api POST "/api/v1/orgs/$ORG/partners" --data "$body")
id=$(jq -r .id <<<"$partner")
# The answer also holds the HMAC consumer secret, shown this once; keep it if the
# partner will use HMAC sign-in too.
jq '{id, name, jwks_url, jwks_fetched_at}' <<<"$partner"
# The keys taken from the set, marked "source": "jwks" (uploaded PEMs say "pem").
gatehouse api GET "/api/v1/orgs/$ORG/partners/$id/keys" | jq -r '.keys[] | "\(.kid) \(.source) \(.bits) bits"'
