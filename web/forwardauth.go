package web

import (
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"gatehouse/app"
)

// verifyQuery is what a proxy asks /auth/verify to require (SPEC §4.4).
// The zero value requires only a session.
type verifyQuery struct {
	Org, Tenant, Role string
	// Aud is the audience asked for the signed assertion (SPEC §4.6); HasAud
	// tells an absent aud from a present one.
	Aud    string
	HasAud bool
}

// verifyParams are the only query parameters /auth/verify understands.
var verifyParams = map[string]bool{"org": true, "tenant": true, "role": true, "aud": true}

// maxAudLen bounds the assertion audience (SPEC §4.6).
const maxAudLen = 256

// parseVerifyQuery reads /auth/verify's raw query strictly. A proxy
// configuration with a typo (an unknown, repeated or empty parameter, or a
// tenant without its organization) must fail loudly, never quietly check
// less than its author meant: tenant IDs are unique only within an
// organization, so "tenant=t1" alone would admit another organization's t1.
func parseVerifyQuery(raw string) (verifyQuery, error) {
	if raw == "" { // the common proxy configuration: nothing to parse
		return verifyQuery{}, nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, "the query string is malformed (use org=, tenant=, role= and aud=, separated by &)")
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !verifyParams[k] {
			return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, "unknown parameter %s: only org, tenant, role and aud are understood", quoteParam(k))
		}
	}
	for _, k := range names {
		switch {
		case len(vals[k]) > 1:
			return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, "parameter %q is given more than once", k)
		case vals[k][0] == "":
			return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, "parameter %q is empty", k)
		}
	}
	q := verifyQuery{Org: vals.Get("org"), Tenant: vals.Get("tenant"), Role: vals.Get("role")}
	if q.Tenant != "" && q.Org == "" {
		return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, `parameter "tenant" needs "org": tenant IDs are unique only within an organization`)
	}
	if q.Role != "" && !app.ValidRole(q.Role) {
		return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, `parameter "role" must be %q or %q`, app.RoleAdmin, app.RoleReadOnly)
	}
	if aud, ok := vals["aud"]; ok {
		if !validAud(aud[0]) {
			return verifyQuery{}, app.Errorf(app.CodeInvalidRequest, `parameter "aud" must be 1 to %d printable ASCII characters without spaces`, maxAudLen)
		}
		q.Aud, q.HasAud = aud[0], true
	}
	return q, nil
}

// validAud is SPEC §4.6's audience alphabet: 0x21–0x7E, at most 256.
func validAud(s string) bool {
	if s == "" || len(s) > maxAudLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// quoteParam names a client-sent parameter in a message without letting it
// grow the answer.
func quoteParam(k string) string {
	const max = 40
	if len(k) > max {
		k = k[:max] + "…"
	}
	return strconv.Quote(k)
}

// admits reports whether a user of this organization, tenant and role is
// who the query asks for.
func (q verifyQuery) admits(org, tenant, role string) bool {
	return (q.Org == "" || q.Org == org) &&
		(q.Tenant == "" || q.Tenant == tenant) &&
		(q.Role == "" || q.Role == role)
}

// siteOrigin is the browser Origin of a base URL: lower-case scheme and host,
// default port dropped, no path.
func siteOrigin(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		((scheme == "https" && port == "443") || (scheme == "http" && port == "80")) {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}
