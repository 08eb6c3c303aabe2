package app

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jwtParts is a compact JWS split and decoded, before any signature check.
type jwtParts struct {
	header  map[string]json.RawMessage
	payload map[string]json.RawMessage
	kid     string
	hasKid  bool
	// signingInput is "header.payload" exactly as sent, and signature the
	// decoded third part: what RS256 verifies (RFC 7515 §5.2).
	signingInput string
	signature    []byte
}

var strictB64 = base64.RawURLEncoding.Strict()

// parseCompactJWS runs SPEC §4.1 steps 2 (shape) and 3 (header).
func parseCompactJWS(token string) (*jwtParts, *Error) {
	parts, e := parseJWSShape(token)
	if e != nil {
		return nil, e
	}
	if e := checkJWSHeader(parts); e != nil {
		return nil, e
	}
	return parts, nil
}

// parseJWSShape runs SPEC §4.1 step 2: three base64url parts whose header
// and payload are JSON objects without repeated members.
func parseJWSShape(token string) (*jwtParts, *Error) {
	if strings.Count(token, ".") != 2 {
		if strings.HasPrefix(strings.TrimSpace(token), "{") {
			return nil, invalidToken("JSON serialisation is not accepted.")
		}
		return nil, invalidToken("A token has three parts.")
	}
	// encoding/base64 skips CR and LF even in strict mode, so a token with
	// line breaks would decode like the clean one: check the alphabet first.
	if !isCompactAlphabet(token) {
		return nil, invalidToken("Malformed base64url.")
	}
	h, p, sig, _ := cut3(token)
	hb, err1 := strictB64.DecodeString(h)
	pb, err2 := strictB64.DecodeString(p)
	sb, err3 := strictB64.DecodeString(sig)
	if err1 != nil || err2 != nil || err3 != nil || len(hb) == 0 || len(pb) == 0 || len(sb) == 0 {
		return nil, invalidToken("Malformed base64url.")
	}
	header, err := decodeStrictObject(hb)
	if err != nil {
		return nil, invalidToken("Malformed header: " + err.Error() + ".")
	}
	payload, err := decodeStrictObject(pb)
	if err != nil {
		return nil, invalidToken("Malformed payload: " + err.Error() + ".")
	}
	return &jwtParts{header: header, payload: payload, signingInput: token[:len(h)+1+len(p)], signature: sb}, nil
}

// checkJWSHeader runs SPEC §4.1 step 3 and reads the kid.
func checkJWSHeader(parts *jwtParts) *Error {
	header := parts.header
	var alg string
	if raw, ok := header["alg"]; !ok || json.Unmarshal(raw, &alg) != nil || alg != "RS256" {
		return invalidToken("Only RS256 is accepted.")
	}
	if _, ok := header["enc"]; ok {
		return invalidToken("Encrypted tokens are not accepted.")
	}
	if _, ok := header["crit"]; ok {
		return invalidToken("The crit header is not supported.")
	}
	if raw, ok := header["kid"]; ok {
		if json.Unmarshal(raw, &parts.kid) != nil || parts.kid == "" || len(parts.kid) > 256 {
			return invalidToken("Malformed kid.")
		}
		parts.hasKid = true
	}
	return nil
}

// isCompactAlphabet reports whether s holds only base64url characters and dots.
func isCompactAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func cut3(s string) (a, b, c string, ok bool) {
	a, rest, ok1 := strings.Cut(s, ".")
	b, c, ok2 := strings.Cut(rest, ".")
	return a, b, c, ok1 && ok2
}

// unverifiedOrgID reads organizationId for key choice only (step 4).
func unverifiedOrgID(payload map[string]json.RawMessage) (string, *Error) {
	return requiredIDClaim(payload, "organizationId")
}

// tokenClaims are the validated claims of step 6.
type tokenClaims struct {
	OrgID, TenantID, Role, Email, Name, JTI string
	Action                                  string // revoke tokens only
	Exp                                     int64
	Iat, Nbf                                int64
	HasIat, HasNbf                          bool
}

// parseClaims runs SPEC §4.1 step 6 on a verified payload.
func parseClaims(p map[string]json.RawMessage) (tokenClaims, *Error) {
	var c tokenClaims
	var e *Error
	// A revoke token (SPEC §4.5) must never sign anyone in: it is refused
	// before any other claim is read.
	if _, ok := p["action"]; ok {
		return c, invalidToken("A token with an action claim is a revoke token; it is not accepted for sign-in.")
	}
	if c.OrgID, e = requiredIDClaim(p, "organizationId"); e != nil {
		return c, e
	}
	if c.TenantID, e = requiredIDClaim(p, "tenantId"); e != nil {
		return c, e
	}
	role, present, e := stringClaim(p, "role")
	if e != nil {
		return c, e
	}
	if !present {
		return c, invalidPayload("role is required")
	}
	if !ValidRole(role) {
		return c, invalidPayload("role must be admin or readOnly")
	}
	c.Role = role
	if c.Email, e = emailClaim(p); e != nil {
		return c, e
	}
	if c.Exp, e = expClaim(p); e != nil {
		return c, e
	}
	name, present, e := stringClaim(p, "name")
	if e != nil {
		return c, e
	}
	if present {
		if utf8.RuneCountInString(name) > 200 || hasControl(name) {
			return c, invalidPayload("name must be at most 200 characters without control characters")
		}
		c.Name = strings.TrimSpace(name)
	}
	if c.Iat, c.HasIat, e = timeClaim(p, "iat"); e != nil {
		return c, e
	}
	if c.Nbf, c.HasNbf, e = timeClaim(p, "nbf"); e != nil {
		return c, e
	}
	if c.JTI, _, e = jtiClaim(p); e != nil {
		return c, e
	}
	return c, nil
}

// emailClaim reads and normalises the required email claim.
func emailClaim(p map[string]json.RawMessage) (string, *Error) {
	raw, present, e := stringClaim(p, "email")
	if e != nil {
		return "", e
	}
	if !present {
		return "", invalidPayload("email is required")
	}
	email, ok := NormalizeEmail(raw)
	if !ok {
		return "", invalidPayload("email is not a valid email address")
	}
	return email, nil
}

// expClaim reads the required exp claim.
func expClaim(p map[string]json.RawMessage) (int64, *Error) {
	exp, present, e := timeClaim(p, "exp")
	if e != nil {
		return 0, e
	}
	if !present {
		return 0, invalidPayload("exp is required")
	}
	return exp, nil
}

// jtiClaim reads the optional jti claim (1–256 characters when present).
func jtiClaim(p map[string]json.RawMessage) (string, bool, *Error) {
	jti, present, e := stringClaim(p, "jti")
	if e != nil || !present {
		return "", present, e
	}
	if jti == "" || len(jti) > 256 || hasControl(jti) {
		return "", true, invalidPayload("jti must be 1–256 characters")
	}
	return jti, true, nil
}

// ValidRole reports whether r is one of the two tenant roles.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleReadOnly }

// Roles of users and admin tokens.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "readOnly"
)

func stringClaim(p map[string]json.RawMessage, name string) (string, bool, *Error) {
	raw, ok := p[name]
	if !ok {
		return "", false, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", true, invalidPayload("%s must be a string", name)
	}
	return s, true, nil
}

func requiredIDClaim(p map[string]json.RawMessage, name string) (string, *Error) {
	s, present, e := stringClaim(p, name)
	if e != nil {
		return "", e
	}
	if !present {
		return "", invalidPayload("%s is required", name)
	}
	if !ValidID(s) {
		return "", invalidPayload("%s is malformed", name)
	}
	return s, nil
}

// timeClaim reads a NumericDate: a JSON number of seconds, fraction truncated.
// Values beyond int64 saturate, so an absurd exp is judged "too far ahead"
// rather than overflowing into the past.
func timeClaim(p map[string]json.RawMessage, name string) (int64, bool, *Error) {
	raw, ok := p[name]
	if !ok {
		return 0, false, nil
	}
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, true, invalidPayload("%s must be a number", name)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !strings.Contains(err.Error(), "range") {
		return 0, true, invalidPayload("%s must be a number", name)
	}
	if f < 0 || math.Signbit(f) && f != 0 {
		return 0, true, invalidPayload("%s must not be negative", name)
	}
	if f >= math.MaxInt64/2 || math.IsInf(f, 1) {
		return math.MaxInt64 / 2, true, nil
	}
	return int64(math.Trunc(f)), true, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// checkTimes runs SPEC §4.1 step 7 (without require_jti).
func checkTimes(c tokenClaims, now time.Time, skew, maxLifetime time.Duration) *Error {
	return checkTimesTraced(c, now, skew, maxLifetime, nil)
}

// checkTimesTraced is checkTimes; tr, nil in a real sign-in, hears each
// claim's verdict with its distance from the server clock.
func checkTimesTraced(c tokenClaims, now time.Time, skew, maxLifetime time.Duration, tr *trace) *Error {
	nowS := now.Unix()
	skewS := int64(skew / time.Second)
	if c.Exp <= nowS-skewS {
		return tr.failE("exp", &Error{Code: CodeExpiredToken, Message: msgExpiredToken}, "exp %s (clock skew allowed: %s)", clockDiff(c.Exp, nowS), skew)
	}
	if c.Exp > nowS+int64(maxLifetime/time.Second) {
		return tr.failE("exp", invalidToken("exp is further ahead than the maximum token lifetime."), "exp %s; max_token_lifetime is %s", clockDiff(c.Exp, nowS), maxLifetime)
	}
	tr.pass("exp", "exp %s (clock skew allowed: %s, max lifetime: %s)", clockDiff(c.Exp, nowS), skew, maxLifetime)
	if c.HasNbf {
		if c.Nbf > nowS+skewS {
			return tr.failE("nbf", invalidToken("nbf is in the future."), "nbf %s (clock skew allowed: %s)", clockDiff(c.Nbf, nowS), skew)
		}
		tr.pass("nbf", "nbf %s", clockDiff(c.Nbf, nowS))
	}
	if c.HasIat {
		if c.Iat > nowS+skewS {
			return tr.failE("iat", invalidToken("iat is in the future."), "iat %s (clock skew allowed: %s)", clockDiff(c.Iat, nowS), skew)
		}
		tr.pass("iat", "iat %s", clockDiff(c.Iat, nowS))
	}
	return nil
}
