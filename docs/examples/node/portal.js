// A partner portal's side of Gatehouse sign-in, with the `jose` package.
//
// signSignInToken() makes the short-lived RS256 token; signInPage() is the
// HTML your portal sends to the person's browser: it posts the token to
// Gatehouse at once, and Gatehouse answers with a 302 to the tenant dashboard.
//
// Run it:  GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key \
//          ORG_ID=acme TENANT_ID=t1 USER_EMAIL=ann@example.com USER_ROLE=readOnly \
//          node portal.js > page.html
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { SignJWT, importPKCS8 } from "jose";

// Load the private key once at start-up (PKCS#8 PEM, as `gatehouse keygen` writes it).
export async function loadKey(path) {
  return importPKCS8(readFileSync(path, "utf8"), "RS256");
}

// signSignInToken signs the claims Gatehouse requires. Keep the lifetime short:
// the browser posts the token within a second.
export async function signSignInToken(key, { orgId, tenantId, email, role, name, kid, ttlSeconds = 60 }) {
  const header = { alg: "RS256", typ: "JWT" };
  if (kid) header.kid = kid; // optional: Gatehouse then tries only that key
  const now = Math.floor(Date.now() / 1000);
  const claims = { organizationId: orgId, tenantId, email, role };
  if (name) claims.name = name;
  return new SignJWT(claims)
    .setProtectedHeader(header)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .setJti(randomUUID()) // lets Gatehouse refuse a replayed token
    .sign(key);
}

const escapeHTML = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// signInPage is the auto-submitting form. returnTo is optional and must start
// with one of the tenant's allowed_return_urls.
export function signInPage(gatehouseURL, token, returnTo) {
  const ret = returnTo ? `\n<input type="hidden" name="return_to" value="${escapeHTML(returnTo)}">` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing you in…</title></head>
<body>
<form id="sso" method="post" action="${escapeHTML(gatehouseURL.replace(/\/$/, ""))}/sso/jwt">
<input type="hidden" name="token" value="${escapeHTML(token)}">${ret}
<noscript><button type="submit">Continue to the dashboard</button></noscript>
</form>
<script>document.getElementById("sso").submit();</script>
</body></html>
`;
}

async function main() {
  const env = process.env;
  for (const k of ["GATEHOUSE_URL", "PARTNER_KEY", "ORG_ID", "TENANT_ID", "USER_EMAIL", "USER_ROLE"]) {
    if (!env[k]) throw new Error(`set ${k}`);
  }
  const key = await loadKey(env.PARTNER_KEY);
  const token = await signSignInToken(key, {
    orgId: env.ORG_ID, tenantId: env.TENANT_ID, email: env.USER_EMAIL, role: env.USER_ROLE,
    name: env.USER_NAME, kid: env.KEY_ID,
  });
  process.stdout.write(signInPage(env.GATEHOUSE_URL, token, env.RETURN_TO));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
