#!/usr/bin/env bash
# A partner's JWKS document from its RSA public key, with nothing but openssl.
# Usage: ./jwks-from-pem.sh partner.pub KID > jwks.json
# Publish jwks.json over https (e.g. at https://idp.example.com/.well-known/jwks.json);
# to rotate, add the new key to "keys", sign with it, and drop the old one later.
set -euo pipefail
pub=$1 kid=$2

b64url() { basenc --base64url --wrap=0 | tr -d '='; }

# n: the modulus, big-endian bytes; e: the public exponent, big-endian bytes.
n=$(openssl rsa -pubin -in "$pub" -noout -modulus | cut -d= -f2 | xxd -r -p | b64url)
e_dec=$(openssl rsa -pubin -in "$pub" -noout -text | awk '/^Exponent:/ {print $2}')
e_hex=$(printf '%x' "$e_dec")
if (( ${#e_hex} % 2 )); then e_hex="0$e_hex"; fi
e=$(printf '%s' "$e_hex" | xxd -r -p | b64url)

jq -n --arg kid "$kid" --arg n "$n" --arg e "$e" \
  '{keys: [{kty: "RSA", use: "sig", alg: "RS256", kid: $kid, n: $n, e: $e}]}'
