package app

// SignInNote is what a sign-in or revoke call learned about its caller, for
// the request's log line: an operator handed a request id by a partner finds
// the partner, tenant and reason in one line, without the audit log. The web
// layer sets Code from the answer (it also answers errors the service never
// sees, such as a rate limit). The ids are filled only from verified data
// (after the signature check), so a forged token cannot put another
// partner's name in the log; and it holds ids only, never a token, secret or
// signature.
type SignInNote struct {
	Code      string // the error code of the answer; empty on success
	OrgID     string
	PartnerID string
	TenantID  string
}

// record copies the assertion's ids as far as the checks got. A nil note
// (a caller that logs nothing, such as a test or the token check) is fine.
func (n *SignInNote) record(a *Assertion) {
	if n == nil {
		return
	}
	n.OrgID, n.PartnerID, n.TenantID = a.OrgID, a.Partner.ID, a.TenantID
}
