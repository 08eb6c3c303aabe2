package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"gatehouse/storage"
)

// Revoke actions (SPEC §4.5).
const (
	ActionLogout      = "logout"
	ActionDeprovision = "deprovision"
)

// RevokeResult is the 200 answer of /sso/jwt/revoke and /sso/hmac/revoke.
type RevokeResult struct {
	Action          string `json:"action"`
	UserFound       bool   `json:"user_found"`
	SessionsRevoked int    `json:"sessions_revoked"`
}

// JWTRevoke is a partner server's POST /sso/jwt/revoke.
type JWTRevoke struct {
	Token     string
	ClientIP  string
	RequestID string
	// Note, when set, is filled with the caller's ids for the log line.
	Note *SignInNote
}

// RevokeJWT runs SPEC §4.5 for a revoke token: the steps 2–5, 7 and 8 of the
// sign-in verifier (the same code), step 6 on the revoke claim set, then the
// partner checks and one atomic write.
func (s *Service) RevokeJWT(ctx context.Context, req JWTRevoke) (res RevokeResult, err error) {
	a := &Assertion{Method: MethodJWT, ClientIP: req.ClientIP, RequestID: req.RequestID}
	defer req.Note.record(a)
	defer s.settleRevoke(ctx, a, &err)
	if req.Token == "" {
		return res, invalidPayload("token is required")
	}
	if err := s.verifyThrottled(ctx, req.Token, a, parseRevokeClaims); err != nil {
		return res, err
	}
	if err := s.allowPartner(a.Partner.ID, MethodJWT); err != nil {
		return res, err
	}
	if !a.Partner.Active {
		return res, &refusal{denyPartnerInactive, "Access denied: the partner is deactivated"}
	}
	return s.revoke(ctx, a, *a.Replay)
}

// RevokeHMAC runs SPEC §4.5 for a signed server-to-server call: the checks
// of 4.3 up to the nonce (the same code as /sso/hmac/token), then the
// partner checks and one atomic write that records the nonce.
func (s *Service) RevokeHMAC(ctx context.Context, req HMACTokenRequest) (res RevokeResult, err error) {
	a := &Assertion{Method: MethodHMAC, ClientIP: req.ClientIP, RequestID: req.RequestID}
	defer req.Note.record(a)
	defer s.settleRevoke(ctx, a, &err)
	signedAt, err := s.verifyHMACEnvelope(ctx, req, a, nil)
	if err != nil {
		return res, err
	}
	body, err := parseRevokeBody(req.Body)
	if err != nil {
		return res, err
	}
	a.Email, a.Action = body.Email, body.Action
	if err := s.allowPartner(a.Partner.ID, MethodHMAC); err != nil {
		return res, err
	}
	now := s.now()
	replay := s.nonceReplay(a, body.Nonce, signedAt, now)
	seen, err := s.store.ReplaySeen(ctx, replay.Key, now)
	if err != nil {
		return res, err
	}
	if seen {
		return res, replayError(MethodHMAC)
	}
	return s.revoke(ctx, a, replay)
}

// revoke runs the partner checks shared by both endpoints and the write.
// The user checks run inside the write, so they are atomic with it.
func (s *Service) revoke(ctx context.Context, a *Assertion, replay storage.Replay) (RevokeResult, error) {
	p := a.Partner
	if p.AllowedEmailDomains != nil && !domainAllowed(p.AllowedEmailDomains, emailDomain(a.Email)) {
		return RevokeResult{}, &refusal{denyEmailDomain, fmt.Sprintf("Access denied by partner policy allowed_email_domains: %s is not allowed", emailDomain(a.Email))}
	}
	now := s.now()
	eventID, err := newID(s.rand, "evt_")
	if err != nil {
		return RevokeResult{}, err
	}
	w := storage.RevokeWrite{
		Now: now, OrgID: a.OrgID, Email: a.Email, Replay: replay,
		DeleteUser: a.Action == ActionDeprovision,
		Check: func(u *storage.User) error {
			if u == nil {
				return nil
			}
			a.TenantID = u.TenantID
			switch {
			case p.AllowedTenants != nil && !slices.Contains(p.AllowedTenants, u.TenantID):
				return &refusal{denyTenantNotAllowed, fmt.Sprintf("Access denied by partner policy allowed_tenants: tenant %s is not allowed", u.TenantID)}
			case !u.PartnerSSO:
				return &refusal{denyUntouchable, "Access denied: existing non-Partner-SSO user"}
			case a.Action == ActionDeprovision && u.PartnerID != p.ID:
				return &refusal{denyOtherPartner, "Access denied: user belongs to another partner"}
			}
			return nil
		},
		Audit: func(r storage.RevokeResult) storage.AuditEvent {
			e := s.revokeEvent(a, nil)
			e.ID, e.Time = eventID, now
			if r.User != nil {
				e.TenantID = r.User.TenantID
			}
			e.Details["user_found"] = r.User != nil
			e.Details["sessions_revoked"] = r.SessionsRevoked
			e.Details["login_tokens_revoked"] = r.LoginTokens
			return e
		},
	}
	res, err := s.store.Revoke(ctx, w)
	if errors.Is(err, storage.ErrReplay) {
		return RevokeResult{}, replayError(a.Method)
	}
	if err != nil {
		return RevokeResult{}, err
	}
	return RevokeResult{Action: a.Action, UserFound: res.User != nil, SessionsRevoked: res.SessionsRevoked}, nil
}

// revokeEvent is the audit record of a revoke call (partner.logout,
// partner.deprovision; partner.revoke when the action could not be read).
func (s *Service) revokeEvent(a *Assertion, err error) storage.AuditEvent {
	typ := "partner.revoke"
	if a.Action == ActionLogout || a.Action == ActionDeprovision {
		typ = "partner." + a.Action
	}
	e := storage.AuditEvent{
		Time: s.now(), Type: typ, Actor: "partner:" + a.Partner.ID, Outcome: "success",
		OrgID: a.OrgID, TenantID: a.TenantID, PartnerID: a.Partner.ID, Email: a.Email,
		ClientIP: a.ClientIP, RequestID: a.RequestID,
		Details: map[string]any{"method": a.Method, "credential": a.Credential},
	}
	if err != nil {
		e.Outcome, e.Code = "failure", ErrorCode(err)
		if ae := AsError(err); ae.Code != CodeInternal {
			e.Details["reason"] = ae.Message
		}
	}
	e.ID, _ = newID(s.rand, "evt_")
	return e
}

// settleRevoke is deferred by both revoke entry points: it turns a refusal
// into the method's contract code and audits a refused call that passed the
// signature check (a.Partner.ID is set from that moment on). A call refused
// before it proved who sent it leaves no audit event.
func (s *Service) settleRevoke(ctx context.Context, a *Assertion, err *error) {
	*err = asContractError(a.Method, *err)
	if *err == nil || a.Partner.ID == "" {
		return
	}
	if _, aerr := s.store.AppendAudit(ctx, s.revokeEvent(a, *err)); aerr != nil {
		s.log.Error("audit append failed", "err", aerr, "request_id", a.RequestID)
	}
}

// parseRevokeClaims is step 6 for a revoke token: organizationId, email,
// action, exp and jti required (jti whatever sso.require_jti says);
// tenantId, role and any other claim are not used.
func parseRevokeClaims(p map[string]json.RawMessage) (tokenClaims, *Error) {
	var c tokenClaims
	var e *Error
	if c.OrgID, e = requiredIDClaim(p, "organizationId"); e != nil {
		return c, e
	}
	if c.Email, e = emailClaim(p); e != nil {
		return c, e
	}
	action, present, e := stringClaim(p, "action")
	if e != nil {
		return c, e
	}
	if !present {
		return c, invalidPayload("action is required (logout or deprovision)")
	}
	if action != ActionLogout && action != ActionDeprovision {
		return c, invalidPayload("action must be logout or deprovision")
	}
	c.Action = action
	if c.Exp, e = expClaim(p); e != nil {
		return c, e
	}
	if c.Iat, c.HasIat, e = timeClaim(p, "iat"); e != nil {
		return c, e
	}
	if c.Nbf, c.HasNbf, e = timeClaim(p, "nbf"); e != nil {
		return c, e
	}
	var hasJTI bool
	if c.JTI, hasJTI, e = jtiClaim(p); e != nil {
		return c, e
	}
	if !hasJTI {
		return c, invalidPayload("jti is required")
	}
	return c, nil
}

// revokeBody is the signed JSON body of /sso/hmac/revoke.
type revokeBody struct {
	Email, Action, Nonce string
}

// parseRevokeBody validates {"email", "action", "nonce"} (one JSON object,
// no repeated members; other members are ignored, as in 4.3).
func parseRevokeBody(raw []byte) (revokeBody, error) {
	var b revokeBody
	obj, err := decodeStrictObject(raw)
	if err != nil {
		return b, Errorf(CodeValidation, "body must be one JSON object (%v)", err)
	}
	str := func(name string) (string, error) {
		v, ok := obj[name]
		if !ok {
			return "", validation(name, "is required")
		}
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return "", validation(name, "must be a string")
		}
		return s, nil
	}
	email, err := str("email")
	if err != nil {
		return b, err
	}
	if b.Email, _ = NormalizeEmail(email); b.Email == "" {
		return b, validation("email", "not a valid email address")
	}
	if b.Action, err = str("action"); err != nil {
		return b, err
	}
	if b.Action != ActionLogout && b.Action != ActionDeprovision {
		return b, validation("action", "must be logout or deprovision")
	}
	if b.Nonce, err = str("nonce"); err != nil {
		return b, err
	}
	if len(b.Nonce) < 16 || len(b.Nonce) > 128 || !validNonce(b.Nonce) {
		return b, validation("nonce", "must be 16–128 characters of A–Z a–z 0–9 _ -")
	}
	return b, nil
}
