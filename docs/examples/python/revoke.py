#!/usr/bin/env python3
"""Partner-side sign-out and deprovisioning with PyJWT.

When a customer's employee leaves, the portal tells Gatehouse at once, server
to server. "logout" ends every session of the user; "deprovision" also
deletes the user (only one your partner provisioned).

Needs PyJWT with its crypto extra (Debian: apt install python3-jwt
python3-cryptography; elsewhere: pip install "pyjwt[crypto]").

Run it:  GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key \\
         ORG_ID=acme USER_EMAIL=ann@example.com ACTION=logout python3 revoke.py
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import jwt  # PyJWT


def sign_revoke_token(key, org_id, email, action):
    """jti is required here: Gatehouse refuses a revoke token without one,
    and refuses it a second time."""
    now = int(time.time())
    claims = {
        "organizationId": org_id,
        "email": email,
        "action": action,  # "logout" or "deprovision"
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="RS256")


def revoke(gatehouse_url, token):
    """POST /sso/jwt/revoke; returns {action, user_found, sessions_revoked}."""
    req = urllib.request.Request(
        gatehouse_url.rstrip("/") + "/sso/jwt/revoke",
        data=urllib.parse.urlencode({"token": token}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        err = json.load(e)  # JSON always: quote request_id to the operator
        raise SystemExit("gatehouse answered %d: %s: %s (request %s)"
                         % (e.code, err["code"], err["message"], err["request_id"]))


def main():
    env = os.environ
    for k in ("GATEHOUSE_URL", "PARTNER_KEY", "ORG_ID", "USER_EMAIL", "ACTION"):
        if not env.get(k):
            sys.exit("set " + k)
    with open(env["PARTNER_KEY"], "rb") as f:
        key = f.read()
    out = revoke(env["GATEHOUSE_URL"], sign_revoke_token(key, env["ORG_ID"], env["USER_EMAIL"], env["ACTION"]))
    print("%s: user_found=%s sessions_revoked=%d"
          % (out["action"], str(out["user_found"]).lower(), out["sessions_revoked"]))


if __name__ == "__main__":
    main()
