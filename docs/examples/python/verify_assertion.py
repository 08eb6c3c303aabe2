#!/usr/bin/env python3
"""How a tenant dashboard behind forward-auth verifies X-Gatehouse-Assertion,
with PyJWT. Trust the identity in the assertion, never bare X-Gatehouse-*
headers: a misconfigured proxy may let a client send those.

Needs PyJWT with its crypto extra (Debian: apt install python3-jwt
python3-cryptography; elsewhere: pip install "pyjwt[crypto]").

Run it:  JWKS_URL=https://sso.example.com/.well-known/jwks.json ISSUER=https://sso.example.com \\
         AUDIENCE=https://dash.example.com ASSERTION=eyJ... python3 verify_assertion.py
"""
import os
import sys

import jwt  # PyJWT


def gatehouse_keys(jwks_url):
    """PyJWKClient caches the set and fetches it again for an unknown kid
    (after a key rotation)."""
    return jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=60)


def verify_assertion(keys, token, issuer, audience=None):
    """Checks the signature (ES256 only, the key named by kid), the issuer,
    exp/iat and, when the proxy asked with ?aud=, the audience."""
    key = keys.get_signing_key_from_jwt(token)
    options = {"require": ["exp", "iat", "iss", "sub", "sid"], "verify_aud": bool(audience)}
    claims = jwt.decode(token, key.key, algorithms=["ES256"], issuer=issuer,
                        audience=audience or None, options=options, leeway=30)
    return {k: claims.get(k) for k in ("sub", "email", "name", "org", "tenant", "role", "sid")}


# In a Flask app:
#   keys = gatehouse_keys(JWKS_URL)
#   @app.before_request
#   def identity():
#       try:
#           g.identity = verify_assertion(keys, request.headers.get("X-Gatehouse-Assertion", ""), ISSUER)
#       except jwt.PyJWTError:
#           abort(401)


def main():
    env = os.environ
    for k in ("JWKS_URL", "ISSUER", "ASSERTION"):
        if not env.get(k):
            sys.exit("set " + k)
    try:
        who = verify_assertion(gatehouse_keys(env["JWKS_URL"]), env["ASSERTION"], env["ISSUER"], env.get("AUDIENCE"))
    except jwt.PyJWTError as e:
        sys.exit("assertion refused: %s" % e)
    print("verified: %s %s %s/%s" % (who["email"], who["role"], who["org"], who["tenant"]))


if __name__ == "__main__":
    main()
