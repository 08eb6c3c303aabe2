package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/storage"
)

// HMACTokenRequest is a partner server's POST /sso/hmac/token.
type HMACTokenRequest struct {
	ConsumerKey string
	Timestamp   string
	Signature   string
	Body        []byte
	ClientIP    string // resolved through trusted_proxies by the caller
	RequestID   string
	// Note, when set, is filled with the caller's ids for the log line.
	Note *SignInNote
}

// HMACTokenResponse is step 1's answer.
type HMACTokenResponse struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
	LoginURL  string `json:"login_url"`
}

// hmacBody is the signed JSON body.
type hmacBody struct {
	TenantID string `json:"tenantId"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Name     string `json:"name"`
	Nonce    string `json:"nonce"`
	ReturnTo string `json:"return_to"`
	// signedAt is X-Timestamp, parsed once by verifyHMAC.
	signedAt time.Time
}

// SignatureMessage is what a partner signs: X-Timestamp|X-Consumer-Key|raw body.
func SignatureMessage(timestamp, consumerKey string, body []byte) []byte {
	msg := make([]byte, 0, len(timestamp)+len(consumerKey)+2+len(body))
	msg = append(msg, timestamp...)
	msg = append(msg, '|')
	msg = append(msg, consumerKey...)
	msg = append(msg, '|')
	return append(msg, body...)
}

// SignHMAC is the partner side of the scheme: lowercase hex HMAC-SHA256 keyed
// with the whole consumer secret string.
func SignHMAC(secret, timestamp, consumerKey string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(SignatureMessage(timestamp, consumerKey, body))
	return hex.EncodeToString(m.Sum(nil))
}

// IssueHMACLoginToken runs SPEC §4.3 step 1.
func (s *Service) IssueHMACLoginToken(ctx context.Context, req HMACTokenRequest) (resp HMACTokenResponse, err error) {
	started := s.now()
	a := &Assertion{Method: MethodHMAC, ClientIP: req.ClientIP, RequestID: req.RequestID}
	defer req.Note.record(a)
	defer func() {
		err = asContractError(MethodHMAC, err)
		if err != nil {
			s.recordFailure(ctx, a, err)
			s.observeSignIn(MethodHMAC, err, started)
		}
	}()
	body, err := s.verifyHMAC(ctx, req, a, nil)
	if err != nil {
		return resp, err
	}
	if err := s.allowPartner(a.Partner.ID, MethodHMAC); err != nil {
		return resp, err
	}
	if err := s.recordNonce(ctx, a, body.Nonce, body.signedAt); err != nil {
		return resp, err
	}
	if _, err := s.authorize(ctx, a, nil); err != nil {
		return resp, err
	}
	if err := s.precheckUser(ctx, a); err != nil {
		return resp, err
	}
	now := s.now()
	token, err := newSecret(s.rand, "lt_")
	if err != nil {
		return resp, err
	}
	lt := storage.LoginToken{
		ID: hashSecret(token), OrgID: a.OrgID, PartnerID: a.Partner.ID, TenantID: a.TenantID, Email: a.Email,
		Name: a.Name, Role: a.Role, ReturnTo: body.ReturnTo, ClientIP: a.ClientIP, ExpiresAt: now.Add(s.cfg.SSO.LoginTokenTTL),
	}
	if err := s.store.CreateLoginToken(ctx, lt); err != nil {
		return resp, err
	}
	return HMACTokenResponse{
		Token:     token,
		ExpiresIn: int(s.cfg.SSO.LoginTokenTTL / time.Second),
		LoginURL:  s.cfg.PublicBaseURL() + "/sso/hmac/login?token=" + url.QueryEscape(token),
	}, nil
}

// verifyHMAC runs step 1's checks before the nonce, in order. It is shared
// by the sign-in (tr nil) and the token check (tr collects each verdict).
func (s *Service) verifyHMAC(ctx context.Context, req HMACTokenRequest, a *Assertion, tr *trace) (hmacBody, error) {
	var body hmacBody
	when, err := s.verifyHMACEnvelope(ctx, req, a, tr)
	if err != nil {
		return body, err
	}
	body, err = parseHMACBody(req.Body)
	if err != nil {
		return body, tr.fail("body", err)
	}
	tr.pass("body", "tenantId %s, email %s, role %s", body.TenantID, body.Email, body.Role)
	email, _ := NormalizeEmail(body.Email)
	a.TenantID, a.Email, a.Name, a.Role, a.ReturnTo = body.TenantID, email, strings.TrimSpace(body.Name), body.Role, body.ReturnTo
	body.signedAt = when
	return body, nil
}

// verifyHMACEnvelope runs the checks of 4.3 that every signed server-to-server
// call shares, up to the body: headers, signature, timestamp, partner
// active, source address. It returns the parsed X-Timestamp.
func (s *Service) verifyHMACEnvelope(ctx context.Context, req HMACTokenRequest, a *Assertion, tr *trace) (time.Time, error) {
	var body time.Time
	ck, ts, sig := strings.TrimSpace(req.ConsumerKey), strings.TrimSpace(req.Timestamp), strings.TrimSpace(req.Signature)
	switch {
	case ck == "":
		return body, tr.fail("headers", validation("X-Consumer-Key", "header is required"))
	case ts == "":
		return body, tr.fail("headers", validation("X-Timestamp", "header is required"))
	case sig == "":
		return body, tr.fail("headers", validation("X-Signature", "header is required"))
	}
	when, ok := parseRFC3339(req.Timestamp)
	if !ok {
		return body, tr.fail("headers", validation("X-Timestamp", "must be an RFC 3339 time such as 2026-11-22T10:00:00Z (a dot before 1–9 fraction digits, Z or ±HH:MM)"))
	}
	tr.pass("headers", "X-Consumer-Key, X-Timestamp and X-Signature present")
	partner, ok := s.checkSignature(ctx, req)
	if !ok || tr != nil && partner.OrgID != tr.org {
		return body, tr.fail("signature", Errorf(CodeInvalidPartnerSignature, "the partner signature is invalid"))
	}
	tr.pass("signature", "HMAC-SHA256 valid for consumer key %s of partner %s (%s)", partner.ConsumerKey, partner.Name, partner.ID)
	a.Partner, a.OrgID, a.Credential = partner, partner.OrgID, partner.ConsumerKey
	now := s.now()
	if !withinTolerance(when, now, s.cfg.SSO.HMACTolerance) {
		return body, tr.failE("timestamp", Errorf(CodeSignatureExpired, "X-Timestamp is more than %s from the server's time", s.cfg.SSO.HMACTolerance),
			"%s", clockDiff(when.Unix(), now.Unix()))
	}
	tr.pass("timestamp", "%s (tolerance %s)", clockDiff(when.Unix(), now.Unix()), s.cfg.SSO.HMACTolerance)
	if !partner.Active {
		return body, tr.fail("partner active", Errorf(CodePartnerInactive, "the partner is deactivated"))
	}
	tr.pass("partner active", "partner %s is active", partner.Name)
	if partner.AllowedSourceIPs != nil && !ipAllowed(partner.AllowedSourceIPs, req.ClientIP) {
		return body, tr.failE("source ip", Errorf(CodeSourceIPNotAllowed, "requests from this address are not allowed for this partner"),
			"client address %q is not in allowed_source_ips", req.ClientIP)
	}
	tr.pass("source ip", "allowed_source_ips permits %q", req.ClientIP)
	return when, nil
}

// recordNonce is step 1's replay check, run only after everything before it passed.
func (s *Service) recordNonce(ctx context.Context, a *Assertion, nonce string, ts time.Time) error {
	now := s.now()
	err := s.store.RecordReplay(ctx, s.nonceReplay(a, nonce, ts, now), now)
	if errors.Is(err, storage.ErrReplay) {
		return replayError(MethodHMAC)
	}
	return err
}

// nonceReplay is the marker of a nonce: kept while a request signed at ts
// could still pass the timestamp check.
func (s *Service) nonceReplay(a *Assertion, nonce string, ts, now time.Time) storage.Replay {
	expires := now.Add(s.cfg.SSO.HMACTolerance)
	if t := ts.Add(s.cfg.SSO.HMACTolerance); t.After(expires) {
		expires = t
	}
	return storage.Replay{Key: nonceKey(a, nonce), ExpiresAt: expires}
}

// nonceKey is the replay key of an HMAC nonce, per consumer key.
func nonceKey(a *Assertion, nonce string) string { return "nonce/" + a.Credential + "/" + nonce }

// checkSignature finds the partner and compares the MAC in constant time
// against the current secret and, inside its grace period, the previous one.
// Unknown keys run the same computation against a dummy secret so that an
// unknown key and a wrong signature cost the same and answer the same.
func (s *Service) checkSignature(ctx context.Context, req HMACTokenRequest) (storage.Partner, bool) {
	given, err := hex.DecodeString(req.Signature)
	wellFormed := err == nil && len(req.Signature) == 64 && strings.ToLower(req.Signature) == req.Signature
	partner, err := s.store.GetPartnerByConsumerKey(ctx, req.ConsumerKey)
	known := err == nil
	secrets := [][]byte{[]byte("cs_dummy-secret-for-timing-equalisation-only")}
	if known && s.ring != nil {
		secrets = secrets[:0]
		if cur, err := s.ring.Open(partner.Secret, []byte(partner.ID)); err == nil {
			secrets = append(secrets, cur)
		} else {
			s.sealedFault.Store(true)
			s.log.Error("partner secret does not open; check [crypto] encryption_keys", "partner", partner.ID, "err", err)
		}
		if partner.PreviousSecret != nil && s.now().Before(partner.PreviousValidUntil) {
			if prev, err := s.ring.Open(partner.PreviousSecret, []byte(partner.ID)); err == nil {
				secrets = append(secrets, prev)
			}
		}
	}
	msg := SignatureMessage(req.Timestamp, req.ConsumerKey, req.Body)
	match := 0
	for _, secret := range secrets {
		m := hmac.New(sha256.New, secret)
		m.Write(msg)
		if len(given) == sha256.Size {
			match |= subtle.ConstantTimeCompare(m.Sum(nil), given)
		}
	}
	return partner, known && wellFormed && match == 1
}

func ipAllowed(allowed []string, client string) bool {
	addr, err := netip.ParseAddr(client)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, entry := range allowed {
		p, err := parseIPOrPrefix(entry)
		if err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseHMACBody validates the signed body (a JSON object, no repeated members).
func parseHMACBody(raw []byte) (hmacBody, error) {
	var b hmacBody
	obj, err := decodeStrictObject(raw)
	if err != nil {
		return b, Errorf(CodeValidation, "body must be one JSON object (%v)", err)
	}
	str := func(name string, required bool) (string, error) {
		v, ok := obj[name]
		if !ok {
			if required {
				return "", validation(name, "is required")
			}
			return "", nil
		}
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return "", validation(name, "must be a string")
		}
		return s, nil
	}
	if b.TenantID, err = str("tenantId", true); err != nil {
		return b, err
	}
	if !ValidID(b.TenantID) {
		return b, validation("tenantId", "is malformed")
	}
	if b.Email, err = str("email", true); err != nil {
		return b, err
	}
	if _, ok := NormalizeEmail(b.Email); !ok {
		return b, validation("email", "not a valid email address")
	}
	if b.Role, err = str("role", true); err != nil {
		return b, err
	}
	if !ValidRole(b.Role) {
		return b, validation("role", "must be admin or readOnly")
	}
	if b.Name, err = str("name", false); err != nil {
		return b, err
	}
	if utf8.RuneCountInString(b.Name) > 200 || hasControl(b.Name) {
		return b, validation("name", "must be at most 200 characters without control characters")
	}
	if b.Nonce, err = str("nonce", true); err != nil {
		return b, err
	}
	if len(b.Nonce) < 16 || len(b.Nonce) > 128 || !validNonce(b.Nonce) {
		return b, validation("nonce", "must be 16–128 characters of A–Z a–z 0–9 _ -")
	}
	if b.ReturnTo, err = str("return_to", false); err != nil {
		return b, err
	}
	if len(b.ReturnTo) > 2048 {
		return b, validation("return_to", "too long")
	}
	return b, nil
}

func validNonce(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// HMACLogin is the browser's step 2.
type HMACLogin struct {
	Token     string
	Origin    string
	ClientIP  string
	RequestID string
	// Note, when set, is filled with the caller's ids for the log line.
	Note *SignInNote
}

// CompleteHMACLogin runs SPEC §4.3 step 2: consume the one-time token, then
// the shared pipeline's steps 11–13.
func (s *Service) CompleteHMACLogin(ctx context.Context, req HMACLogin) (res SignInResult, err error) {
	started := s.now()
	a := &Assertion{Method: MethodHMAC, Origin: req.Origin, ClientIP: req.ClientIP, RequestID: req.RequestID}
	defer req.Note.record(a)
	defer s.settleSignIn(ctx, a, started, &err)
	if req.Token == "" || len(req.Token) > 256 {
		return res, Errorf(CodeInvalidLoginToken, "the login token is missing, unknown, used or expired")
	}
	lt, err := s.store.ConsumeLoginToken(ctx, hashSecret(req.Token), s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return res, Errorf(CodeInvalidLoginToken, "the login token is missing, unknown, used or expired")
	}
	if err != nil {
		return res, err
	}
	partner, err := s.store.GetPartner(ctx, lt.OrgID, lt.PartnerID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !partner.Active {
		return res, Errorf(CodePartnerInactive, "the partner is deactivated")
	}
	if err != nil {
		return res, err
	}
	a.Partner, a.OrgID, a.Credential = partner, lt.OrgID, partner.ConsumerKey
	a.TenantID, a.Email, a.Name, a.Role, a.ReturnTo = lt.TenantID, lt.Email, lt.Name, lt.Role, lt.ReturnTo
	// The policies may have changed since step 1, and only this step sees
	// the browser's Origin: check them all again (the token is spent already,
	// so a refusal cannot be retried with the same link).
	tenant, err := s.authorize(ctx, a, nil)
	if err != nil {
		return res, err
	}
	return s.complete(ctx, a, tenant)
}
