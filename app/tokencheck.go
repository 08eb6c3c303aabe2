package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gatehouse/storage"
)

// TokenCheckInput is POST …/token-check: a JWT in Token, or an HMAC step-1
// request (headers and the raw body). Origin and ClientIP stand for the
// request's Origin header and client address, for the policies that use them.
type TokenCheckInput struct {
	Token       string `json:"token,omitempty"`
	ConsumerKey string `json:"consumer_key,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
	Signature   string `json:"signature,omitempty"`
	Body        string `json:"body,omitempty"`
	Origin      string `json:"origin,omitempty"`
	ClientIP    string `json:"client_ip,omitempty"`
}

// CheckStep is one check the sign-in runs, with its verdict.
type CheckStep struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// TokenCheckResult answers a token check: pass, or the first failing check
// and the code the real sign-in would have answered.
type TokenCheckResult struct {
	Result string      `json:"result"` // "pass" or "fail"
	Code   string      `json:"code"`
	Method string      `json:"method"`
	Checks []CheckStep `json:"checks"`
}

// trace collects the verdicts of the shared verification code. The sign-in
// passes a nil *trace: every method is a no-op then, so the token check and
// the real sign-in run the very same checks.
type trace struct {
	// org confines the check to one organization: a token or consumer key of
	// another organization fails as if unknown, revealing nothing about it.
	org   string
	steps []CheckStep
}

func (t *trace) pass(name, format string, args ...any) {
	if t == nil {
		return
	}
	t.steps = append(t.steps, CheckStep{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
}

// fail records a failed check whose detail is err's message; it returns err.
func (t *trace) fail(name string, err error) error {
	if t != nil {
		t.steps = append(t.steps, CheckStep{Name: name, Detail: failureDetail(err)})
	}
	return err
}

// failE is fail for *Error results with an extra explanation.
func (t *trace) failE(name string, e *Error, format string, args ...any) *Error {
	if t != nil {
		t.steps = append(t.steps, CheckStep{Name: name, Detail: e.Message + " — " + fmt.Sprintf(format, args...)})
	}
	return e
}

func failureDetail(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.message
	}
	return AsError(err).Message
}

// clockDiff says how far a NumericDate lies from now ("in 4m0s", "2m0s ago").
func clockDiff(at, now int64) string {
	when := time.Unix(at, 0).UTC().Format(time.RFC3339)
	switch {
	case at > now:
		return fmt.Sprintf("%s is %s ahead of the server clock", when, secondsText(at-now))
	case at < now:
		return fmt.Sprintf("%s is %s behind the server clock", when, secondsText(now-at))
	}
	return when + " is the server's current time"
}

// secondsText prints a positive number of seconds as a Duration does, or in
// days beyond a year: a Duration overflows past 292 years, and a timestamp
// in year 9999 is a thing an attacker sends.
func secondsText(secs int64) string {
	if secs > 366*24*3600 {
		return fmt.Sprintf("%d days", secs/(24*3600))
	}
	return (time.Duration(secs) * time.Second).String()
}

// TokenCheck runs every check the real sign-in would run on a JWT or an HMAC
// request, in the same order and through the same code, and reports each.
// It writes nothing: no audit event, no user, no session, and the jti or
// nonce is only looked up, never recorded, so the token still works after.
func (s *Service) TokenCheck(ctx context.Context, actor Actor, orgID string, in TokenCheckInput) (TokenCheckResult, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return TokenCheckResult{}, err
	}
	hmacGiven := in.ConsumerKey != "" || in.Timestamp != "" || in.Signature != "" || in.Body != ""
	switch {
	case in.Token != "" && hmacGiven:
		return TokenCheckResult{}, validation("token", "give either a token or an HMAC request, not both")
	case len(in.Token) > 64<<10 || len(in.Body) > 64<<10:
		return TokenCheckResult{}, validation("token", "too large")
	}
	tr := &trace{org: orgID}
	var err error
	method := MethodJWT
	if hmacGiven {
		method = MethodHMAC
		err = s.checkHMACRequest(ctx, in, tr)
	} else {
		err = s.checkJWT(ctx, in, tr)
	}
	res := TokenCheckResult{Result: "pass", Method: method, Checks: tr.steps}
	if err != nil {
		err = asContractError(method, err)
		if ErrorCode(err) == CodeInternal {
			return TokenCheckResult{}, err
		}
		res.Result, res.Code = "fail", ErrorCode(err)
		if errors.Is(err, errOtherOrg) {
			res.Code = ""
		}
	}
	if res.Checks == nil {
		res.Checks = []CheckStep{}
	}
	return res, nil
}

// errOtherOrg: the token names another organization; the check stops there.
var errOtherOrg = &Error{Code: CodeInvalidKeyOrTenant, Message: "the token is for another organization"}

// checkJWT mirrors SignInJWT up to the write.
func (s *Service) checkJWT(ctx context.Context, in TokenCheckInput, tr *trace) error {
	a := &Assertion{Method: MethodJWT, Origin: in.Origin, ClientIP: in.ClientIP}
	if strings.TrimSpace(in.Token) == "" {
		return tr.fail("format", invalidPayload("token is required"))
	}
	if err := s.verifyJWT(ctx, in.Token, a, tr); err != nil {
		return err
	}
	if _, err := s.authorize(ctx, a, tr); err != nil {
		return err
	}
	return s.checkUser(ctx, a, tr)
}

// checkHMACRequest mirrors IssueHMACLoginToken's checks, looking the nonce
// up instead of recording it.
func (s *Service) checkHMACRequest(ctx context.Context, in TokenCheckInput, tr *trace) error {
	a := &Assertion{Method: MethodHMAC, ClientIP: in.ClientIP}
	req := HMACTokenRequest{ConsumerKey: in.ConsumerKey, Timestamp: in.Timestamp, Signature: in.Signature,
		Body: []byte(in.Body), ClientIP: in.ClientIP}
	body, err := s.verifyHMAC(ctx, req, a, tr)
	if err != nil {
		return err
	}
	seen, err := s.store.ReplaySeen(ctx, nonceKey(a, body.Nonce), s.now())
	if err != nil {
		return err
	}
	if seen {
		return tr.fail("replay", replayError(MethodHMAC))
	}
	tr.pass("replay", "nonce not used before (the check does not record it)")
	if _, err := s.authorize(ctx, a, tr); err != nil {
		return err
	}
	return s.checkUser(ctx, a, tr)
}

// checkUser is step 11 (user state) as precheckUser runs it, reported.
func (s *Service) checkUser(ctx context.Context, a *Assertion, tr *trace) error {
	if err := s.precheckUser(ctx, a); err != nil {
		return tr.fail("user", err)
	}
	existing, err := s.store.GetUserByEmail(ctx, a.OrgID, a.Email)
	switch {
	case err == nil:
		tr.pass("user", "%s exists in tenant %s (Partner SSO); the sign-in would update its role to %s", existing.Email, existing.TenantID, a.Role)
	case errors.Is(err, storage.ErrNotFound):
		tr.pass("user", "%s does not exist yet; the sign-in would create it (just-in-time) in tenant %s", a.Email, a.TenantID)
	default:
		return err
	}
	return nil
}
