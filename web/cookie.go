package web

import (
	"net/http"
	"time"

	"gatehouse/app"
)

// cookieSpec is how the session cookie is written.
type cookieSpec struct {
	name   string
	domain string
	secure bool
	ttl    time.Duration
}

// newCookieSpec uses the __Host- prefix when it can (https, no Domain): the
// browser then refuses the cookie from subdomains and plain http, so a
// sibling host cannot plant or shadow a session.
func newCookieSpec(cfg app.Config) cookieSpec {
	spec := cookieSpec{name: cfg.Session.CookieName, domain: cfg.Session.CookieDomain, secure: cfg.SecureCookies(), ttl: cfg.Session.TTL}
	if spec.secure && spec.domain == "" {
		spec.name = "__Host-" + spec.name
	}
	return spec
}

// CookieName is the session cookie's name as served.
func (s *Server) CookieName() string { return s.cookie.name }

func (c cookieSpec) session(value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name: c.name, Value: value, Path: "/", Domain: c.domain, Expires: expires.UTC(),
		MaxAge: int(c.ttl / time.Second), HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	}
}

func (c cookieSpec) clear() *http.Cookie {
	return &http.Cookie{Name: c.name, Value: "", Path: "/", Domain: c.domain, MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
}
