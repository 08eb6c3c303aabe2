package app

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gatehouse/storage"
)

// A backend wraps storage.ErrUnavailable when its database is unreachable;
// every face of the service must turn that into a retryable 503 code, never
// an internal_error, and never leak the backend's message.
func TestUnavailableIsSpelledPerRoute(t *testing.T) {
	outage := fmt.Errorf("postgres: dial tcp 127.0.0.1:5432: connect: connection refused: %w", storage.ErrUnavailable)

	admin := AsError(outage)
	if admin.Code != CodeUnavailable || admin.RetryAfter <= 0 {
		t.Errorf("admin spelling: %+v", admin)
	}
	if ErrorCode(outage) != CodeUnavailable {
		t.Errorf("ErrorCode: %s", ErrorCode(outage))
	}
	for _, m := range []string{AsError(outage).Message, serviceUnavailable().Message} {
		if m == "" || strings.Contains(m, "127.0.0.1") || strings.Contains(m, "refused") {
			t.Errorf("message leaks the backend error: %q", m)
		}
	}

	jwt := AsError(asContractError(MethodJWT, outage))
	if jwt.Code != CodeServiceUnavailable || jwt.RetryAfter <= 0 {
		t.Errorf("JWT spelling: %+v", jwt)
	}
	hmac := AsError(asContractError(MethodHMAC, outage))
	if hmac.Code != CodeUnavailable || hmac.RetryAfter <= 0 {
		t.Errorf("HMAC spelling: %+v", hmac)
	}

	other := errors.New("disk on fire")
	if got := asContractError(MethodJWT, other); got != other {
		t.Errorf("other errors must pass unchanged: %v", got)
	}
	if ErrorCode(other) != CodeInternal {
		t.Errorf("other errors stay internal: %s", ErrorCode(other))
	}
}
