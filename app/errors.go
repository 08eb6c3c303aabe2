package app

import (
	"errors"
	"fmt"

	"gatehouse/storage"
)

// Error codes of the JWT sign-in (SPEC §4.2), named as Plerion names them.
const (
	CodeInvalidToken         = "InvalidToken"
	CodeExpiredToken         = "ExpiredToken"
	CodeInvalidPayload       = "InvalidPayload"
	CodeInvalidKeyOrTenant   = "InvalidKeyOrTenant"
	CodeAccessDenied         = "AccessDenied"
	CodeRateLimited          = "RateLimited"
	CodeMethodNotAllowed     = "MethodNotAllowed"
	CodeUnsupportedMediaType = "UnsupportedMediaType"
	CodePayloadTooLarge      = "PayloadTooLarge"
	CodeServiceUnavailable   = "ServiceUnavailable"
	// CodeInvalidRequest is a malformed query of a public route such as
	// /auth/verify (SPEC §4.4): the message names the parameter.
	CodeInvalidRequest = "InvalidRequest"
)

// Error codes of the HMAC sign-in (SPEC §4.3) and the admin API (SPEC §5).
const (
	CodeValidation              = "validation_error"
	CodeInvalidPartnerSignature = "invalid_partner_signature"
	CodeSignatureExpired        = "signature_expired"
	CodeReplayedRequest         = "replayed_request"
	CodeInvalidLoginToken       = "invalid_login_token"
	CodePartnerInactive         = "partner_inactive"
	CodeSourceIPNotAllowed      = "source_ip_not_allowed"
	CodeTenantNotAllowed        = "tenant_not_allowed"
	CodeProvisioningDisabled    = "provisioning_disabled"
	CodeEmailDomainNotAllowed   = "email_domain_not_allowed"
	CodeRoleNotAllowed          = "role_not_allowed"
	CodeUserNotProvisioned      = "user_not_provisioned"
	CodeMaxUsersExceeded        = "max_users_exceeded"
	CodeUserConflict            = "user_conflict"
	CodeOriginNotAllowed        = "origin_not_allowed"
	CodeHMACRateLimited         = "rate_limited"

	CodeUnauthorized          = "unauthorized"
	CodeForbidden             = "forbidden"
	CodeNotFound              = "not_found"
	CodePartnerAlreadyExists  = "partner_already_exists"
	CodeConflict              = "conflict"
	CodeInternal              = "internal_error"
	CodeUnavailable           = "unavailable"
	CodeAdminMethodNotAllowed = "method_not_allowed"
)

// Messages fixed by the Plerion contract.
const (
	msgInvalidToken       = "The provided token is invalid."
	msgExpiredToken       = "The token has expired"
	msgInvalidKeyOrTenant = "Public Key not set for Tenant or Invalid tenantId"
)

// Error is an expected failure with a contract code and a message safe to
// show to the caller. Anything that is not an *Error is an internal error.
type Error struct {
	Code    string
	Message string
	// RetryAfter, for rate limiting, is how many seconds to wait.
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the contract code of err, or CodeInternal.
func ErrorCode(err error) string {
	return AsError(err).Code
}

// AsError returns err as an *Error; a store that cannot reach its database
// becomes unavailable (503, retry later), any other unexpected error a
// generic internal_error whose message reveals nothing.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return &Error{Code: CodeUnavailable, Message: msgUnavailable, RetryAfter: unavailableRetryAfter}
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// unavailableRetryAfter is the Retry-After (seconds) of an unavailable
// answer: an instance recovers within seconds of its database coming back.
const unavailableRetryAfter = 5

const msgUnavailable = "the database cannot be reached or did not answer in time; nothing was written; retry shortly"

// serviceUnavailable is the JWT sign-in's spelling of unavailable (SPEC §4.2).
func serviceUnavailable() *Error {
	return &Error{Code: CodeServiceUnavailable, Message: msgUnavailable, RetryAfter: unavailableRetryAfter}
}

func invalidToken(reason string) *Error {
	if reason == "" {
		return &Error{Code: CodeInvalidToken, Message: msgInvalidToken}
	}
	return &Error{Code: CodeInvalidToken, Message: msgInvalidToken + " " + reason}
}

func invalidPayload(format string, args ...any) *Error {
	return Errorf(CodeInvalidPayload, format, args...)
}

func validation(field, format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Message: field + ": " + fmt.Sprintf(format, args...)}
}
