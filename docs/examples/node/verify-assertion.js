// How a tenant dashboard behind forward-auth verifies X-Gatehouse-Assertion,
// with the `jose` package. Trust the identity in the assertion, never bare
// X-Gatehouse-* headers: a misconfigured proxy may let a client send those.
//
// Run it:  JWKS_URL=https://sso.example.com/.well-known/jwks.json ISSUER=https://sso.example.com \
//          AUDIENCE=https://dash.example.com ASSERTION=eyJ... node verify-assertion.js
import { createRemoteJWKSet, jwtVerify } from "jose";

// createRemoteJWKSet caches the keys and fetches again when an assertion
// names a kid it does not know (after a rotation), at most every 30 s.
export function gatehouseKeys(jwksURL) {
  return createRemoteJWKSet(new URL(jwksURL));
}

// verifyAssertion checks the signature (ES256 only), the issuer, exp/iat and,
// when the proxy asked with ?aud=, the audience; it returns the identity.
export async function verifyAssertion(keys, token, { issuer, audience }) {
  const { payload } = await jwtVerify(token, keys, {
    algorithms: ["ES256"],
    issuer,
    audience: audience || undefined,
    requiredClaims: ["sub", "exp", "iat", "sid"],
    clockTolerance: 30,
  });
  const { sub, email, name, org, tenant, role, sid } = payload;
  return { sub, email, name, org, tenant, role, sid };
}

// In an Express-style app:
//   const keys = gatehouseKeys(process.env.JWKS_URL);
//   app.use(async (req, res, next) => {
//     try { req.identity = await verifyAssertion(keys, req.get("X-Gatehouse-Assertion") ?? "", { issuer }); next(); }
//     catch { res.status(401).send("not signed in"); }
//   });

async function main() {
  const env = process.env;
  for (const k of ["JWKS_URL", "ISSUER", "ASSERTION"]) {
    if (!env[k]) throw new Error(`set ${k}`);
  }
  const id = await verifyAssertion(gatehouseKeys(env.JWKS_URL), env.ASSERTION, { issuer: env.ISSUER, audience: env.AUDIENCE });
  console.log(`verified: ${id.email} ${id.role} ${id.org}/${id.tenant}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(`assertion refused: ${err.message}`);
    process.exit(1);
  });
}
