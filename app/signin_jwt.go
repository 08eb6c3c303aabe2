package app

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"runtime"
	"time"

	"gatehouse/storage"
)

// JWTSignIn is a browser's POST /sso/jwt.
type JWTSignIn struct {
	Token     string
	ReturnTo  string
	Origin    string
	ClientIP  string
	RequestID string
	// Note, when set, is filled with the caller's ids for the log line.
	Note *SignInNote
}

// SignInJWT runs SPEC §4.1 in order; the first failing step decides the answer.
func (s *Service) SignInJWT(ctx context.Context, req JWTSignIn) (res SignInResult, err error) {
	started := s.now()
	a := &Assertion{Method: MethodJWT, ReturnTo: req.ReturnTo, Origin: req.Origin, ClientIP: req.ClientIP, RequestID: req.RequestID}
	defer req.Note.record(a)
	defer s.settleSignIn(ctx, a, started, &err)
	if req.Token == "" {
		return res, invalidPayload("token is required")
	}
	if err := s.verifyThrottled(ctx, req.Token, a, parseClaims); err != nil {
		return res, err
	}
	tenant, err := s.authorize(ctx, a, nil)
	if err != nil {
		return res, err
	}
	if err := s.allowPartner(a.Partner.ID, MethodJWT); err != nil {
		return res, err
	}
	return s.complete(ctx, a, tenant)
}

// verifyJWT runs steps 2–8 of a sign-in token and fills the assertion. It is
// shared by the sign-in (tr nil) and the token check (tr collects each
// verdict), so both judge a token identically. It only reads: the jti is
// recorded by the write.
func (s *Service) verifyJWT(ctx context.Context, token string, a *Assertion, tr *trace) error {
	return s.verifyJWTClaims(ctx, token, a, tr, parseClaims)
}

// claimParser is step 6 for one kind of token: parseClaims for sign-in,
// parseRevokeClaims for /sso/jwt/revoke. Every other step is the same code.
type claimParser func(map[string]json.RawMessage) (tokenClaims, *Error)

// verifyJWTClaims is verifyJWT with step 6 given.
func (s *Service) verifyJWTClaims(ctx context.Context, token string, a *Assertion, tr *trace, parse claimParser) error {
	parts, e := parseJWSShape(token)
	if e != nil {
		return tr.fail("format", e)
	}
	tr.pass("format", "compact JWS: three base64url parts, JSON header and payload")
	if e := checkJWSHeader(parts); e != nil {
		return tr.fail("alg", e)
	}
	tr.pass("alg", "RS256")
	orgID, e := unverifiedOrgID(parts.payload)
	if e != nil {
		return tr.fail("organization", e)
	}
	if tr != nil && orgID != tr.org {
		return tr.failE("organization", errOtherOrg, "organizationId is %q; run the check in that organization", orgID)
	}
	keys, err := s.orgKeys(ctx, orgID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && len(keys) == 0 {
		return tr.failE("organization", &Error{Code: CodeInvalidKeyOrTenant, Message: msgInvalidKeyOrTenant}, "organization %s has no active key", orgID)
	}
	if err != nil {
		return err
	}
	tr.pass("organization", "%s, %d active key(s)", orgID, len(keys))
	if parts.hasKid && !hasKid(keys, parts.kid) {
		// A partner may have rotated its published keys since the last
		// refresh: fetch its set now (rate-limited) and judge by the new one.
		outsideVerifySlot(ctx, func() { s.refreshForUnknownKid(ctx, orgID) })
		if keys, err = s.orgKeys(ctx, orgID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	if parts.hasKid && !hasKid(keys, parts.kid) {
		return tr.fail("kid", invalidToken("No key with this kid."))
	}
	if parts.hasKid {
		tr.pass("kid", "%s is a key of this organization", parts.kid)
	} else {
		tr.pass("kid", "no kid header: every active key of the organization is tried")
	}
	key, e := verifySignature(parts, keys)
	if e != nil {
		return tr.fail("signature", e)
	}
	// The key's partner is known from here on: a later refusal is audited
	// as that partner's call, not an anonymous one.
	a.OrgID, a.Credential, a.Partner.ID = orgID, key.kid, key.partnerID
	// Only now is anything in the token trusted. parts.payload was decoded
	// (strictly) from the very segment the signature covers, so it is reused
	// rather than decoded a second time.
	payloadObj := parts.payload
	tr.pass("signature", "verified by key %s of partner %s", key.kid, key.partnerID)
	claims, e := parse(payloadObj)
	if e != nil {
		return tr.fail("claims", e)
	}
	tr.pass("claims", "tenantId %s, email %s, role %s", claims.TenantID, claims.Email, claims.Role)
	a.OrgID, a.TenantID, a.Email, a.Name, a.Role = claims.OrgID, claims.TenantID, claims.Email, claims.Name, claims.Role
	a.Action = claims.Action
	a.Credential = key.kid
	partner, err := s.store.GetPartner(ctx, orgID, key.partnerID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) { // key outlived its partner: treat as no key
			return tr.fail("partner", invalidToken(""))
		}
		return err
	}
	a.Partner = partner
	now := s.now()
	if e := checkTimesTraced(claims, now, s.cfg.SSO.ClockSkew, s.cfg.SSO.MaxTokenLifetime, tr); e != nil {
		return e
	}
	if claims.JTI == "" && s.cfg.SSO.RequireJTI {
		return tr.fail("replay", invalidPayload("jti is required"))
	}
	if claims.JTI == "" {
		tr.pass("replay", "no jti: the token can be replayed until it expires (set sso.require_jti to refuse such tokens)")
		return nil
	}
	a.Replay = &storage.Replay{
		Key:       "jti/" + orgID + "/" + claims.JTI,
		ExpiresAt: time.Unix(claims.Exp, 0).Add(s.cfg.SSO.ClockSkew),
	}
	seen, err := s.store.ReplaySeen(ctx, a.Replay.Key, now)
	if err != nil {
		return err
	}
	if seen {
		return tr.fail("replay", replayError(MethodJWT))
	}
	tr.pass("replay", "jti not used before (the check does not record it)")
	return nil
}

func hasKid(keys []verifierKey, kid string) bool {
	for _, k := range keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}

// verifySlots caps concurrent RS256 verifications at the number of cores.
// Verification is pure CPU; letting every request compute at once only
// queues the group-commit writer behind them, which stretched bbolt commits
// and doubled p99 at 64 concurrent sign-ins. Queued requests wait here
// instead, and the writer always finds a core.
var verifySlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func (s *Service) verifyThrottled(ctx context.Context, token string, a *Assertion, parse claimParser) error {
	select {
	case verifySlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-verifySlots }()
	return s.verifyJWTClaims(context.WithValue(ctx, verifySlotHeld{}, true), token, a, nil, parse)
}

// verifySlotHeld marks a context whose request holds a verify slot.
type verifySlotHeld struct{}

// outsideVerifySlot runs fn (a network wait: an unknown kid's JWKS fetch,
// up to 5 s) with the caller's verify slot given back, so sign-ins waiting
// on a slow partner server never starve everyone else of CPU slots.
func outsideVerifySlot(ctx context.Context, fn func()) {
	if held, _ := ctx.Value(verifySlotHeld{}).(bool); !held {
		fn()
		return
	}
	<-verifySlots
	defer func() { verifySlots <- struct{}{} }()
	fn()
}

// verifySignature runs step 5: the kid's key (the caller has checked the kid
// exists), or every key of the organization. The header was checked strictly
// at step 3 (alg exactly RS256, no crit, nothing fetched), so what is left is
// RS256 itself: RSASSA-PKCS1-v1_5 with SHA-256 over the signing input as sent
// (RFC 7518 §3.3), done with crypto/rsa directly. Handing the token to a JOSE
// library here would parse and decode it a second time, which cost more
// than the verification's own hashing.
func verifySignature(parts *jwtParts, keys []verifierKey) (verifierKey, *Error) {
	digest := sha256.Sum256([]byte(parts.signingInput))
	for _, k := range keys {
		if parts.hasKid && k.kid != parts.kid {
			continue
		}
		if pub, ok := k.pub.(*rsa.PublicKey); ok {
			if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], parts.signature) == nil {
				return k, nil
			}
		}
	}
	return verifierKey{}, invalidToken("The signature does not verify.")
}

func (s *Service) allowPartner(partnerID, method string) error {
	if s.limiter == nil {
		return nil
	}
	ok, wait := s.limiter.AllowPartner(partnerID, s.now())
	if ok {
		return nil
	}
	code := CodeRateLimited
	if method == MethodHMAC {
		code = CodeHMACRateLimited
	}
	secs := int(wait/time.Second) + 1
	return &Error{Code: code, Message: "too many sign-ins for this partner; retry later", RetryAfter: secs}
}
