package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gatehouse/storage"
)

// Assertion is what a verifier proved: this partner asserts this user, in
// this tenant, with this role. Both verifiers hand one to the same pipeline.
type Assertion struct {
	Method     string // MethodJWT or MethodHMAC
	OrgID      string
	Partner    storage.Partner
	Credential string // the kid or consumer key that verified
	TenantID   string
	Email      string // normalised
	Name       string
	Role       string
	Action     string          // revoke calls only: logout or deprovision
	Replay     *storage.Replay // a jti to record with the write
	ReturnTo   string
	Origin     string
	ClientIP   string
	RequestID  string
}

// Sign-in methods.
const (
	MethodJWT  = "jwt"
	MethodHMAC = "hmac"
)

// denial is why the shared pipeline refused an assertion; each verifier maps
// it to its own contract code (see jwtCodes, hmacCodes).
type denial int

const (
	denyTenantUnknown denial = iota + 1
	denyPartnerInactive
	denyProvisioningDisabled
	denyTenantNotAllowed
	denyEmailDomain
	denyRole
	denyOrigin
	denyNotPartnerSSO
	denyOtherTenant
	denyNotProvisioned
	denyMaxUsers
	denyUntouchable  // revoke: a non-Partner-SSO user is never touched
	denyOtherPartner // deprovision: the user was provisioned by another partner
)

// refusal carries a denial and its human message through Provision.
type refusal struct {
	reason  denial
	message string
}

func (r *refusal) Error() string { return r.message }

var jwtCodes = map[denial]string{
	denyTenantUnknown:        CodeInvalidKeyOrTenant,
	denyPartnerInactive:      CodeAccessDenied,
	denyProvisioningDisabled: CodeAccessDenied,
	denyTenantNotAllowed:     CodeAccessDenied,
	denyEmailDomain:          CodeAccessDenied,
	denyRole:                 CodeAccessDenied,
	denyOrigin:               CodeAccessDenied,
	denyNotPartnerSSO:        CodeInvalidPayload,
	denyOtherTenant:          CodeInvalidPayload,
	denyNotProvisioned:       CodeAccessDenied,
	denyMaxUsers:             CodeAccessDenied,
	denyUntouchable:          CodeAccessDenied,
	denyOtherPartner:         CodeAccessDenied,
}

var hmacCodes = map[denial]string{
	denyTenantUnknown:        CodeTenantNotAllowed,
	denyPartnerInactive:      CodePartnerInactive,
	denyProvisioningDisabled: CodeProvisioningDisabled,
	denyTenantNotAllowed:     CodeTenantNotAllowed,
	denyEmailDomain:          CodeEmailDomainNotAllowed,
	denyRole:                 CodeRoleNotAllowed,
	denyOrigin:               CodeOriginNotAllowed,
	denyNotPartnerSSO:        CodeUserConflict,
	denyOtherTenant:          CodeUserConflict,
	denyNotProvisioned:       CodeUserNotProvisioned,
	denyMaxUsers:             CodeMaxUsersExceeded,
	denyUntouchable:          CodeUserConflict,
	denyOtherPartner:         CodeUserConflict,
}

// asContractError turns a refusal into the method's *Error; other errors pass.
func asContractError(method string, err error) error {
	var r *refusal
	if !errors.As(err, &r) {
		return unavailableFor(method, err)
	}
	codes := jwtCodes
	if method == MethodHMAC {
		codes = hmacCodes
	}
	code := codes[r.reason]
	if code == CodeInvalidKeyOrTenant {
		return &Error{Code: code, Message: msgInvalidKeyOrTenant}
	}
	return &Error{Code: code, Message: r.message}
}

// unavailableFor spells a database outage in the method's error codes
// (ServiceUnavailable for JWT, unavailable for HMAC); other errors pass.
func unavailableFor(method string, err error) error {
	if err == nil || !errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	if method == MethodHMAC {
		return AsError(err)
	}
	return serviceUnavailable()
}

// Provisioning modes of a partner.
const (
	ProvisioningJIT          = "jit"
	ProvisioningPreProvision = "pre_provisioned"
	ProvisioningDisabled     = "disabled"
)

// authorize runs SPEC §4.1 steps 9–10 (tenant, then partner policies);
// tr is nil except in a token check.
func (s *Service) authorize(ctx context.Context, a *Assertion, tr *trace) (storage.Tenant, error) {
	tenant, err := s.store.GetTenant(ctx, a.OrgID, a.TenantID)
	if errors.Is(err, storage.ErrNotFound) {
		return tenant, tr.fail("tenant", &refusal{denyTenantUnknown, "unknown tenant"})
	}
	if err != nil {
		return tenant, err
	}
	tr.pass("tenant", "%s (%s)", tenant.ID, tenant.Name)
	if err := checkPolicies(a); err != nil {
		return tenant, tr.fail("partner policies", err)
	}
	tr.pass("partner policies", "partner %s is active and its policies allow this sign-in", a.Partner.Name)
	return tenant, nil
}

// checkPolicies applies the partner's opt-in policies: a nil list means no
// restriction, an empty one allows nothing.
//
// The order is each contract's: SPEC §4.1 step 10 refuses a disabled
// provisioning before the tenant, §4.3 the tenant before the provisioning.
func checkPolicies(a *Assertion) error {
	p := a.Partner
	provisioningOff := p.UserProvisioning == ProvisioningDisabled
	tenantRefused := p.AllowedTenants != nil && !slices.Contains(p.AllowedTenants, a.TenantID)
	switch {
	case !p.Active:
		return &refusal{denyPartnerInactive, "Access denied: the partner is deactivated"}
	case provisioningOff && (a.Method != MethodHMAC || !tenantRefused):
		return &refusal{denyProvisioningDisabled, "Access denied by partner policy user_provisioning: sign-in is disabled"}
	case tenantRefused:
		return &refusal{denyTenantNotAllowed, fmt.Sprintf("Access denied by partner policy allowed_tenants: tenant %s is not allowed", a.TenantID)}
	case p.AllowedEmailDomains != nil && !domainAllowed(p.AllowedEmailDomains, emailDomain(a.Email)):
		return &refusal{denyEmailDomain, fmt.Sprintf("Access denied by partner policy allowed_email_domains: %s is not allowed", emailDomain(a.Email))}
	case p.AllowedRoles != nil && !slices.Contains(p.AllowedRoles, a.Role):
		return &refusal{denyRole, fmt.Sprintf("Access denied by partner policy allowed_roles: role %s is not allowed", a.Role)}
	case p.AllowedOrigins != nil && a.Origin != "" && !slices.Contains(p.AllowedOrigins, strings.TrimRight(a.Origin, "/")):
		return &refusal{denyOrigin, "Access denied by partner policy allowed_origins: this origin is not allowed"}
	}
	return nil
}

func domainAllowed(allowed []string, domain string) bool {
	for _, d := range allowed {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

// provisioner returns the step-11 decision for an assertion as a
// storage.ProvisionFunc: it runs inside the sign-in write, so the user checks
// and the max_users count are atomic with the user's creation.
func (s *Service) provisioner(a *Assertion, now time.Time, newUserID string) storage.ProvisionFunc {
	return func(existing *storage.User, partnerUsers func(string) int) (storage.User, error) {
		if existing != nil {
			if !existing.PartnerSSO {
				return storage.User{}, &refusal{denyNotPartnerSSO, "email belongs to an existing non-Partner-SSO user"}
			}
			// The store looks the email up within a.OrgID only, so existing
			// is this organization's user: naming its tenant reveals nothing
			// about any other organization.
			if existing.TenantID != a.TenantID {
				return storage.User{}, &refusal{denyOtherTenant, fmt.Sprintf("email belongs to a user bound to tenant %s (delete the user to move them)", existing.TenantID)}
			}
			u := *existing
			u.Role = a.Role
			if a.Name != "" {
				u.Name = a.Name
			}
			u.LastSignInAt = now
			return u, nil
		}
		switch {
		case a.Partner.UserProvisioning == ProvisioningPreProvision:
			return storage.User{}, &refusal{denyNotProvisioned, "Access denied by partner policy user_provisioning: the user must be pre-provisioned"}
		case a.Partner.MaxUsers != nil && partnerUsers(a.Partner.ID) >= *a.Partner.MaxUsers:
			return storage.User{}, &refusal{denyMaxUsers, fmt.Sprintf("Access denied by partner policy max_users: the partner's limit of %d users is reached", *a.Partner.MaxUsers)}
		}
		return storage.User{
			ID: newUserID, Email: a.Email, Name: a.Name, OrgID: a.OrgID, TenantID: a.TenantID,
			Role: a.Role, PartnerSSO: true, PartnerID: a.Partner.ID, CreatedAt: now, LastSignInAt: now,
		}, nil
	}
}

// precheckUser runs step 11 outside the write (HMAC step 1 answers early);
// the write checks again atomically.
func (s *Service) precheckUser(ctx context.Context, a *Assertion) error {
	existing, err := s.store.GetUserByEmail(ctx, a.OrgID, a.Email)
	var ptr *storage.User
	switch {
	case err == nil:
		ptr = &existing
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	count := func(pid string) int {
		n, err := s.store.CountPartnerUsers(ctx, pid)
		if err != nil {
			return 0 // the write re-checks atomically
		}
		return n
	}
	_, err = s.provisioner(a, s.now(), "")(ptr, count)
	return err
}

// SignInResult is a completed sign-in: the browser gets the session cookie
// and a 302 to Location.
type SignInResult struct {
	SessionToken string
	ExpiresAt    time.Time
	Location     string
	User         storage.User
}

// complete runs steps 11–13 in one atomic write and picks the redirect.
func (s *Service) complete(ctx context.Context, a *Assertion, tenant storage.Tenant) (SignInResult, error) {
	now := s.now()
	userID, err := newTimeID(s.rand, "usr_", now)
	if err != nil {
		return SignInResult{}, err
	}
	token, sessionID, err := s.newSessionToken(now)
	if err != nil {
		return SignInResult{}, err
	}
	expires := now.Add(s.cfg.Session.TTL)
	w := storage.SignInWrite{
		Now:       now,
		OrgID:     a.OrgID,
		Email:     a.Email,
		Replay:    a.Replay,
		Provision: s.provisioner(a, now, userID),
		Session: storage.Session{
			ID: sessionID, OrgID: a.OrgID, PartnerID: a.Partner.ID, CreatedAt: now, ExpiresAt: expires,
		},
		TouchKey: s.keyTouchDue(a, now),
		Audit:    s.signInEvent(a, now, nil),
	}
	user, err := s.store.SignIn(ctx, w)
	switch {
	case errors.Is(err, storage.ErrReplay):
		return SignInResult{}, replayError(a.Method)
	case errors.Is(err, storage.ErrPartnerInactive):
		return SignInResult{}, &refusal{denyPartnerInactive, "Access denied: the partner is deactivated"}
	case errors.Is(err, storage.ErrNoTenant): // deleted since step 9 read it
		return SignInResult{}, &refusal{denyTenantUnknown, "unknown tenant"}
	case err != nil:
		return SignInResult{}, err
	}
	return SignInResult{
		SessionToken: token,
		ExpiresAt:    expires,
		Location:     s.redirectTarget(tenant, a.ReturnTo),
		User:         user,
	}, nil
}

func replayError(method string) *Error {
	if method == MethodHMAC {
		return Errorf(CodeReplayedRequest, "this nonce was already used")
	}
	return invalidToken("This token was already used (jti replay).")
}

// keyTouchDue records a key's last use at most once a minute, keeping the
// sign-in write lean.
func (s *Service) keyTouchDue(a *Assertion, now time.Time) *storage.KeyTouch {
	if a.Method != MethodJWT {
		return nil
	}
	cacheKey := a.OrgID + "/" + a.Credential
	if last, ok := s.keyTouch.Load(cacheKey); ok && now.Sub(last.(time.Time)) < time.Minute {
		return nil
	}
	s.keyTouch.Store(cacheKey, now)
	if s.observer != nil {
		s.observer.KeyUsed(a.OrgID, a.Credential, now)
	}
	return &storage.KeyTouch{OrgID: a.OrgID, Kid: a.Credential, At: now}
}

// redirectTarget is return_to when the tenant allows it, else the tenant's
// redirect_url, else the public base URL.
func (s *Service) redirectTarget(t storage.Tenant, returnTo string) string {
	if returnTo != "" && ReturnToAllowed(returnTo, t.AllowedReturnURLs) {
		return returnTo
	}
	if t.RedirectURL != "" {
		return t.RedirectURL
	}
	return s.cfg.PublicBaseURL() + "/"
}

// ReturnToAllowed reports whether a deep link may be followed: an absolute
// http(s) URL without control characters, backslashes, user info, dot
// segments or encoded separators, starting with an allowed prefix at a path
// boundary (so "https://a/t1" does not admit "https://a/t1.evil").
func ReturnToAllowed(raw string, allowed []string) bool {
	if len(raw) > 2048 || strings.ContainsAny(raw, "\\") || hasControlOrSpace(raw) {
		return false
	}
	lower := strings.ToLower(raw)
	for _, bad := range []string{"%2f", "%5c", "%2e", "%00", "%0d", "%0a", "%09"} {
		if strings.Contains(lower, bad) {
			return false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == ".." || seg == "." {
			return false
		}
	}
	for _, prefix := range allowed {
		if prefix == "" || !strings.HasPrefix(raw, prefix) {
			continue
		}
		pu, err := url.Parse(prefix)
		if err != nil || !strings.EqualFold(pu.Scheme, u.Scheme) || !strings.EqualFold(pu.Host, u.Host) {
			continue
		}
		rest := raw[len(prefix):]
		if rest == "" || strings.HasSuffix(prefix, "/") || strings.ContainsRune("/?#", rune(rest[0])) {
			return true
		}
	}
	return false
}

func hasControlOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// signInEvent is the audit record of a sign-in attempt.
func (s *Service) signInEvent(a *Assertion, now time.Time, err error) *storage.AuditEvent {
	e := &storage.AuditEvent{
		Time: now, Type: "signin." + a.Method, Actor: "partner:" + a.Partner.ID, Outcome: "success",
		OrgID: a.OrgID, TenantID: a.TenantID, PartnerID: a.Partner.ID, Email: a.Email,
		ClientIP: a.ClientIP, RequestID: a.RequestID,
		Details: map[string]any{"credential": a.Credential},
	}
	if a.Partner.ID == "" {
		e.Actor = "anonymous"
	}
	if err != nil {
		e.Outcome, e.Code = "failure", ErrorCode(err)
		if ae := AsError(err); ae.Code != CodeInternal {
			e.Details["reason"] = ae.Message
		}
	}
	id, _ := newID(s.rand, "evt_")
	e.ID = id
	return e
}

// settleSignIn is deferred by each sign-in entry point: it turns a pipeline
// refusal into the method's contract error, audits a failure and measures.
func (s *Service) settleSignIn(ctx context.Context, a *Assertion, started time.Time, err *error) {
	if errors.Is(*err, storage.ErrUnavailable) {
		s.log.Warn("sign-in refused: database unavailable", "err", *err, "request_id", a.RequestID)
	}
	*err = asContractError(a.Method, *err)
	if *err != nil {
		s.recordFailure(ctx, a, *err)
	}
	s.observeSignIn(a.Method, *err, started)
}

// recordFailure appends the audit event of a refused sign-in; a failure to
// record is logged, never turned into a different answer for the caller.
// A sign-in refused because the database is unavailable is not recorded:
// the append would wait out the same outage a second time, doubling how long
// the caller waits for its 503 (SPEC §7 bounds that); the warning logged in
// settleSignIn is its trace.
func (s *Service) recordFailure(ctx context.Context, a *Assertion, err error) {
	if code := ErrorCode(err); code == CodeServiceUnavailable || code == CodeUnavailable {
		return
	}
	if _, aerr := s.store.AppendAudit(ctx, *s.signInEvent(a, s.now(), err)); aerr != nil {
		s.log.Error("audit append failed", "err", aerr, "request_id", a.RequestID)
	}
}
