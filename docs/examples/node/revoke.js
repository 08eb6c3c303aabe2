// Partner-side sign-out and deprovisioning with the `jose` package: when a
// customer's employee leaves, the portal tells Gatehouse at once, server to
// server. "logout" ends every session of the user; "deprovision" also
// deletes the user (only one your partner provisioned).
//
// Run it:  GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key \
//          ORG_ID=acme USER_EMAIL=ann@example.com ACTION=logout node revoke.js
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { SignJWT, importPKCS8 } from "jose";

// signRevokeToken signs the revoke claims. jti is required here: Gatehouse
// refuses a revoke token without one, and refuses it a second time.
export async function signRevokeToken(key, { orgId, email, action }) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ organizationId: orgId, email, action }) // action: "logout" or "deprovision"
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .setJti(randomUUID())
    .sign(key);
}

// revoke posts the token to /sso/jwt/revoke and returns
// {action, user_found, sessions_revoked}.
export async function revoke(gatehouseURL, token) {
  const resp = await fetch(`${gatehouseURL.replace(/\/$/, "")}/sso/jwt/revoke`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = await resp.json(); // JSON always, errors too
  if (!resp.ok) {
    // quote body.request_id to the operator
    throw new Error(`gatehouse answered ${resp.status}: ${body.code}: ${body.message} (request ${body.request_id})`);
  }
  return body;
}

async function main() {
  const env = process.env;
  for (const k of ["GATEHOUSE_URL", "PARTNER_KEY", "ORG_ID", "USER_EMAIL", "ACTION"]) {
    if (!env[k]) throw new Error(`set ${k}`);
  }
  const key = await importPKCS8(readFileSync(env.PARTNER_KEY, "utf8"), "RS256");
  const token = await signRevokeToken(key, { orgId: env.ORG_ID, email: env.USER_EMAIL, action: env.ACTION });
  const out = await revoke(env.GATEHOUSE_URL, token);
  console.log(`${out.action}: user_found=${out.user_found} sessions_revoked=${out.sessions_revoked}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
