package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// statusFor is the one mapping from contract codes to HTTP statuses.
func statusFor(code string) int {
	switch code {
	case app.CodeInvalidToken, app.CodeExpiredToken, app.CodeInvalidPartnerSignature, app.CodeSignatureExpired,
		app.CodeReplayedRequest, app.CodeInvalidLoginToken, app.CodeUnauthorized:
		return http.StatusUnauthorized
	case app.CodeInvalidPayload, app.CodeValidation, app.CodeInvalidRequest:
		return http.StatusBadRequest
	case app.CodeInvalidKeyOrTenant, app.CodeAccessDenied, app.CodePartnerInactive, app.CodeSourceIPNotAllowed,
		app.CodeTenantNotAllowed, app.CodeProvisioningDisabled, app.CodeEmailDomainNotAllowed, app.CodeRoleNotAllowed,
		app.CodeUserNotProvisioned, app.CodeMaxUsersExceeded, app.CodeOriginNotAllowed, app.CodeForbidden:
		return http.StatusForbidden
	case app.CodeUserConflict, app.CodePartnerAlreadyExists, app.CodeConflict:
		return http.StatusConflict
	case app.CodeRateLimited, app.CodeHMACRateLimited:
		return http.StatusTooManyRequests
	case app.CodeMethodNotAllowed, app.CodeAdminMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case app.CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case app.CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case app.CodeNotFound:
		return http.StatusNotFound
	case app.CodeServiceUnavailable, app.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody is the error shape of every JSON error (SPEC §4.2, §5).
type errorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// abortError answers err as JSON. Unexpected errors are logged with the
// request id and answered with a generic internal_error.
func (s *Server) abortError(c *gin.Context, err error) {
	e := app.AsError(err)
	s.logUnexpected(c, e, err)
	noteCode(c, e.Code)
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	c.AbortWithStatusJSON(statusFor(e.Code), errorBody{Code: e.Code, Message: e.Message, RequestID: requestID(c)})
}

// logUnexpected logs what the answer's generic message hides: an internal
// error, or the database failure behind an unavailable.
func (s *Server) logUnexpected(c *gin.Context, e *app.Error, err error) {
	switch e.Code {
	case app.CodeInternal:
		s.log.Error("internal error", "request_id", requestID(c), "err", err)
	case app.CodeUnavailable:
		s.log.Warn("database unavailable", "request_id", requestID(c), "err", err)
	}
}

// abortSignInError answers a sign-in error per the Accept rule (SPEC §4.2):
// an HTML page when a person's browser asked, else JSON.
func (s *Server) abortSignInError(c *gin.Context, err error) {
	s.abortNegotiated(c, err, "Sign-in failed", "")
}

// abortNegotiated answers err per the Accept rule, which every error of the
// public listener follows except the server-to-server routes (SPEC §4.4):
// JSON, or for a person's browser a page with heading and advice (empty:
// the advice for the code).
func (s *Server) abortNegotiated(c *gin.Context, err error, heading, advice string) {
	if !prefersHTML(c.GetHeader("Accept")) {
		s.abortError(c, err)
		return
	}
	e := app.AsError(err)
	s.logUnexpected(c, e, err)
	noteCode(c, e.Code)
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if advice == "" {
		advice = adviceFor(e.Code)
	}
	s.renderPage(c, statusFor(e.Code), "error", errorPage{
		Title: heading, Code: e.Code, Message: e.Message, RequestID: requestID(c), Advice: advice, Base: s.publicBase,
	})
	c.Abort()
}

// adviceFor tells a person what to do next.
func adviceFor(code string) string {
	switch code {
	case app.CodeExpiredToken:
		return "Your sign-in link has expired. Go back to your partner portal and open the dashboard again."
	case app.CodeInvalidToken, app.CodeInvalidLoginToken:
		return "This sign-in link is not valid or was already used. Go back to your partner portal and try again."
	case app.CodeAccessDenied, app.CodeInvalidKeyOrTenant, app.CodePartnerInactive, app.CodeTenantNotAllowed,
		app.CodeProvisioningDisabled, app.CodeEmailDomainNotAllowed, app.CodeRoleNotAllowed, app.CodeOriginNotAllowed,
		app.CodeUserNotProvisioned, app.CodeMaxUsersExceeded:
		return "Your portal is not allowed to sign you in here. Contact your service provider's support and quote the request ID below."
	case app.CodeInvalidPayload, app.CodeUserConflict:
		return "Your portal sent incomplete or conflicting details. Contact your service provider's support and quote the request ID below."
	case app.CodeRateLimited, app.CodeHMACRateLimited:
		return "Too many attempts. Wait a minute, then try again from your partner portal."
	case app.CodeServiceUnavailable:
		return "Sign-in is briefly unavailable. Wait a few seconds, then try again from your partner portal; nothing was changed."
	case app.CodeNotFound, app.CodeMethodNotAllowed:
		return "There is nothing to open at this address. Check the link, or start again from your partner portal."
	case app.CodeUnauthorized:
		return "You are not signed in. Open the dashboard from your partner portal to sign in."
	}
	return "Go back to your partner portal and try again. If it keeps failing, contact support with the request ID below."
}
