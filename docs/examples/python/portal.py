#!/usr/bin/env python3
"""A partner portal's side of Gatehouse sign-in, with PyJWT.

sign_sign_in_token() makes the short-lived RS256 token; sign_in_page() is the
HTML your portal sends to the person's browser: it posts the token to
Gatehouse at once, and Gatehouse answers with a 302 to the tenant dashboard.

Needs PyJWT with its crypto extra (Debian: apt install python3-jwt
python3-cryptography; elsewhere: pip install "pyjwt[crypto]").

Run it:  GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key \
         ORG_ID=acme TENANT_ID=t1 USER_EMAIL=ann@example.com USER_ROLE=readOnly \
         python3 portal.py > page.html
"""
import html
import os
import sys
import time
import uuid

import jwt  # PyJWT


def load_key(path):
    """The partner's private key, PEM (as `gatehouse keygen` writes it)."""
    with open(path, "rb") as f:
        return f.read()


def sign_sign_in_token(key, org_id, tenant_id, email, role, name=None, kid=None, ttl_seconds=60):
    """Sign the claims Gatehouse requires. Keep the lifetime short: the
    browser posts the token within a second."""
    now = int(time.time())
    claims = {
        "organizationId": org_id,
        "tenantId": tenant_id,
        "email": email,
        "role": role,  # "admin" or "readOnly"
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),  # lets Gatehouse refuse a replayed token
    }
    if name:
        claims["name"] = name
    headers = {"kid": kid} if kid else None  # optional: Gatehouse then tries only that key
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def sign_in_page(gatehouse_url, token, return_to=None):
    """The auto-submitting form. return_to is optional and must start with one
    of the tenant's allowed_return_urls."""
    action = html.escape(gatehouse_url.rstrip("/") + "/sso/jwt")
    ret = ""
    if return_to:
        ret = '\n<input type="hidden" name="return_to" value="%s">' % html.escape(return_to)
    return """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing you in…</title></head>
<body>
<form id="sso" method="post" action="%s">
<input type="hidden" name="token" value="%s">%s
<noscript><button type="submit">Continue to the dashboard</button></noscript>
</form>
<script>document.getElementById("sso").submit();</script>
</body></html>
""" % (action, html.escape(token), ret)


def main():
    env = os.environ
    for k in ("GATEHOUSE_URL", "PARTNER_KEY", "ORG_ID", "TENANT_ID", "USER_EMAIL", "USER_ROLE"):
        if not env.get(k):
            sys.exit("set " + k)
    token = sign_sign_in_token(
        load_key(env["PARTNER_KEY"]), env["ORG_ID"], env["TENANT_ID"], env["USER_EMAIL"],
        env["USER_ROLE"], name=env.get("USER_NAME"), kid=env.get("KEY_ID"),
    )
    sys.stdout.write(sign_in_page(env["GATEHOUSE_URL"], token, env.get("RETURN_TO")))


if __name__ == "__main__":
    main()
