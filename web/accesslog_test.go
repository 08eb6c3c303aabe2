package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/memory"
)

// loggedServer is the fixture's public listener behind a real HTTP server,
// with its own logger capturing the request lines at one level and format.
type loggedServer struct {
	t      *testing.T
	url    string
	client *http.Client
	logs   *strings.Builder
}

func newLoggedServer(t *testing.T, f *fixture, level slog.Level, format string) *loggedServer {
	t.Helper()
	logs := &strings.Builder{}
	w := &syncBuilder{Builder: logs}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	srv, err := New(Options{Service: f.svc, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := srv.PublicHandler()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &loggedServer{t: t, url: ts.URL, client: client, logs: logs}
}

// send sends a request built with httptest.NewRequest over the network and
// returns the status, body and request id of the answer.
func (l *loggedServer) send(req *http.Request) (status int, body []byte, requestID string) {
	l.t.Helper()
	var raw []byte
	if req.Body != nil {
		raw, _ = io.ReadAll(req.Body)
	}
	out, err := http.NewRequest(req.Method, l.url+req.URL.RequestURI(), bytes.NewReader(raw))
	if err != nil {
		l.t.Fatal(err)
	}
	out.Header = req.Header.Clone()
	for _, c := range req.Cookies() {
		out.AddCookie(c)
	}
	resp, err := l.client.Do(out)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header.Get("X-Request-ID")
}

// output is everything logged so far.
func (l *loggedServer) output() string { return l.logs.String() }

// jsonLine is the JSON request line of one request id.
func (l *loggedServer) jsonLine(requestID string) map[string]any {
	l.t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(l.output()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			l.t.Fatalf("not a JSON line: %q", line)
		}
		if m["msg"] == "request" && m["request_id"] == requestID {
			return m
		}
	}
	l.t.Fatalf("no request line for %s in:\n%s", requestID, l.output())
	return nil
}

// errorCode is the code of a JSON error answer ("" for any other body).
func errorCode(body []byte) string {
	var e struct{ Code string }
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// wantSignInLine checks a sign-in line's outcome and ids, and that its
// duration is a JSON number.
func wantSignInLine(t *testing.T, what string, line map[string]any, code, org, partner, tenant string) {
	t.Helper()
	want := map[string]string{"code": code, "org_id": org, "partner_id": partner, "tenant_id": tenant}
	for k, v := range want {
		got, ok := line[k].(string)
		if !ok || got != v {
			t.Errorf("%s: %s = %#v, want %q (line %v)", what, k, line[k], v, line)
		}
	}
	if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("%s: duration_ms = %#v, want a number", what, line["duration_ms"])
	}
	if _, ok := line["took"]; ok {
		t.Errorf("%s: the old took attribute is still logged", what)
	}
}

func revokeRequest(token string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/sso/jwt/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func (f *fixture) hmacRevokeRequest(body map[string]any, secret string) (*http.Request, string) {
	raw := []byte(mustJSON(f.t, body))
	ts := f.now3339()
	sig := app.SignHMAC(secret, ts, f.partner.ConsumerKey, raw)
	req := hmacRequest(f.partner.ConsumerKey, ts, sig, raw)
	req.URL.Path = "/sso/hmac/revoke"
	return req, sig
}

// TestSignInLogLines: every sign-in and revoke request line carries the
// answer's code (empty on success) and the organization, partner and tenant
// as far as the checks got, and never a token, secret or signature.
func TestSignInLogLines(t *testing.T) {
	f := newFixture(t)
	l := newLoggedServer(t, f, slog.LevelInfo, "json")
	pid := f.partner.ID
	var secrets []string // nothing of these may reach any log
	secrets = append(secrets, f.partner.ConsumerSecret)

	// JWT: success, a refusal after the signature (ids known), a refusal
	// before it (a forged token names nobody, even an organization).
	good := f.token(f.claims())
	expired := f.token(func() map[string]any {
		c := f.claims()
		c["exp"] = f.clock.Now().Add(-time.Hour).Unix()
		return c
	}())
	_, keyB := keys(t)
	forged := signRaw(t, keyB, `{"alg":"RS256","typ":"JWT"}`, f.claimsJSON(nil))
	secrets = append(secrets, good, expired, forged, strings.Split(good, ".")[2])
	for _, tc := range []struct {
		what, token string
		status      int
		code        string
		org, pid    string
		tenant      string
	}{
		{"jwt success", good, http.StatusFound, "", "acme", pid, "t1"},
		{"jwt expired", expired, http.StatusUnauthorized, app.CodeExpiredToken, "acme", pid, "t1"},
		{"jwt forged", forged, http.StatusUnauthorized, app.CodeInvalidToken, "", "", ""},
		{"jwt empty", "", http.StatusBadRequest, app.CodeInvalidPayload, "", "", ""},
	} {
		status, body, rid := l.send(tokenRequest(tc.token))
		if status != tc.status || errorCode(body) != tc.code {
			t.Fatalf("%s: %d %s", tc.what, status, body)
		}
		wantSignInLine(t, tc.what, l.jsonLine(rid), tc.code, tc.org, tc.pid, tc.tenant)
	}

	// HMAC step 1: success, a bad signature (who sent it is unproven), a
	// refusal after the signature.
	req := f.signedHMAC(nextNonce(), nil)
	secrets = append(secrets, req.Header.Get("X-Signature"))
	status, body, rid := l.send(req)
	if status != http.StatusOK {
		t.Fatalf("hmac token: %d %s", status, body)
	}
	wantSignInLine(t, "hmac token", l.jsonLine(rid), "", "acme", pid, "t1")
	var issued struct{ Token string }
	if err := json.Unmarshal(body, &issued); err != nil || issued.Token == "" {
		t.Fatalf("hmac token answer %s", body)
	}
	secrets = append(secrets, issued.Token)

	raw := hmacBody(t, nextNonce(), nil)
	ts := f.now3339()
	badSig := app.SignHMAC("cs_not-the-secret", ts, f.partner.ConsumerKey, raw)
	secrets = append(secrets, badSig)
	status, body, rid = l.send(hmacRequest(f.partner.ConsumerKey, ts, badSig, raw))
	if status != http.StatusUnauthorized || errorCode(body) != app.CodeInvalidPartnerSignature {
		t.Fatalf("hmac bad signature: %d %s", status, body)
	}
	wantSignInLine(t, "hmac bad signature", l.jsonLine(rid), app.CodeInvalidPartnerSignature, "", "", "")

	req = f.signedHMAC(nextNonce(), func(b map[string]any) { b["tenantId"] = "nope" })
	secrets = append(secrets, req.Header.Get("X-Signature"))
	status, body, rid = l.send(req)
	if status < 400 || errorCode(body) == "" {
		t.Fatalf("hmac unknown tenant: %d %s", status, body)
	}
	wantSignInLine(t, "hmac unknown tenant", l.jsonLine(rid), errorCode(body), "acme", pid, "nope")

	// HMAC step 2: the login token is in the query, which is never logged.
	login := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(issued.Token), nil)
	status, body, rid = l.send(login)
	if status != http.StatusFound {
		t.Fatalf("hmac login: %d %s", status, body)
	}
	wantSignInLine(t, "hmac login", l.jsonLine(rid), "", "acme", pid, "t1")
	login = httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(issued.Token), nil)
	status, body, rid = l.send(login)
	if status != http.StatusUnauthorized || errorCode(body) != app.CodeInvalidLoginToken {
		t.Fatalf("hmac login reused: %d %s", status, body)
	}
	wantSignInLine(t, "hmac login reused", l.jsonLine(rid), app.CodeInvalidLoginToken, "", "", "")

	// Revoke: alice (t1, signed in above) logged out by JWT, the same token
	// again (a jti replay, found after the signature), erin by HMAC, and an HMAC
	// call with a wrong signature.
	revoke := f.token(f.revokeClaims(app.ActionLogout))
	secrets = append(secrets, revoke)
	status, body, rid = l.send(revokeRequest(revoke))
	if status != http.StatusOK {
		t.Fatalf("jwt revoke: %d %s", status, body)
	}
	wantSignInLine(t, "jwt revoke", l.jsonLine(rid), "", "acme", pid, "t1")
	status, body, rid = l.send(revokeRequest(revoke))
	if status != http.StatusUnauthorized || errorCode(body) != app.CodeInvalidToken {
		t.Fatalf("jwt revoke replayed: %d %s", status, body)
	}
	wantSignInLine(t, "jwt revoke replayed", l.jsonLine(rid), app.CodeInvalidToken, "acme", pid, "")

	req, sig := f.hmacRevokeRequest(revokeBody("alice@example.com", app.ActionLogout), f.partner.ConsumerSecret)
	secrets = append(secrets, sig)
	status, body, rid = l.send(req)
	if status != http.StatusOK {
		t.Fatalf("hmac revoke: %d %s", status, body)
	}
	wantSignInLine(t, "hmac revoke", l.jsonLine(rid), "", "acme", pid, "t1")
	req, sig = f.hmacRevokeRequest(revokeBody("alice@example.com", app.ActionLogout), "cs_not-the-secret")
	secrets = append(secrets, sig)
	status, body, rid = l.send(req)
	if status != http.StatusUnauthorized || errorCode(body) != app.CodeInvalidPartnerSignature {
		t.Fatalf("hmac revoke bad signature: %d %s", status, body)
	}
	wantSignInLine(t, "hmac revoke bad signature", l.jsonLine(rid), app.CodeInvalidPartnerSignature, "", "", "")

	// Other routes have no sign-in attributes.
	_, _, rid = l.send(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if line := l.jsonLine(rid); line["code"] != nil || line["partner_id"] != nil {
		t.Errorf("health check line has sign-in attributes: %v", line)
	}

	for _, out := range []string{l.output(), f.logs.String()} {
		for _, s := range secrets {
			if s != "" && strings.Contains(out, s) {
				t.Errorf("a log holds a token, secret or signature %q:\n%s", s, out)
			}
		}
		if strings.Contains(out, "token=") {
			t.Errorf("a log holds a query:\n%s", out)
		}
	}
}

// TestSignInLogRateLimited: a refusal answered before the service runs
// (the per-address limit) is coded too.
func TestSignInLogRateLimited(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerIP = 1 })
	l := newLoggedServer(t, f, slog.LevelInfo, "json")
	if status, body, _ := l.send(tokenRequest(f.token(f.claims()))); status != http.StatusFound {
		t.Fatalf("first sign-in: %d %s", status, body)
	}
	status, body, rid := l.send(tokenRequest(f.token(f.claims())))
	if status != http.StatusTooManyRequests {
		t.Fatalf("second sign-in: %d %s", status, body)
	}
	wantSignInLine(t, "rate limited", l.jsonLine(rid), app.CodeRateLimited, "", "", "")
}

// TestAccessLogTextFormat: the text format carries the same attributes,
// the duration as a bare number.
func TestAccessLogTextFormat(t *testing.T) {
	f := newFixture(t)
	l := newLoggedServer(t, f, slog.LevelInfo, "text")
	if status, body, _ := l.send(tokenRequest(f.token(f.claims()))); status != http.StatusFound {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	_, _, _ = l.send(tokenRequest("not.a.token"))
	out := l.output()
	for _, want := range []string{
		`path=/sso/jwt status=302 `, `code="" org_id=acme partner_id=` + f.partner.ID + ` tenant_id=t1`,
		`path=/sso/jwt status=401 `, `code=` + app.CodeInvalidToken + ` org_id="" partner_id="" tenant_id=""`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text log lacks %q:\n%s", want, out)
		}
	}
	durations := regexp.MustCompile(`duration_ms=(\S+)`).FindAllStringSubmatch(out, -1)
	if len(durations) != 2 {
		t.Fatalf("want 2 durations, got %q in:\n%s", durations, out)
	}
	for _, d := range durations {
		if v, err := strconv.ParseFloat(d[1], 64); err != nil || v < 0 {
			t.Errorf("duration_ms=%s is not a number", d[1])
		}
	}
	if strings.Contains(out, "took=") {
		t.Errorf("the old took attribute is still logged:\n%s", out)
	}
}

// failingSessions fails session lookups while down is set, so forward-auth
// answers 503.
type failingSessions struct {
	storage.Store
	down atomic.Bool
}

func (s *failingSessions) GetSession(ctx context.Context, id string) (storage.Session, error) {
	if s.down.Load() {
		return storage.Session{}, storage.ErrUnavailable
	}
	return s.Store.GetSession(ctx, id)
}

func (s *failingSessions) GetSessionUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	if s.down.Load() {
		return storage.Session{}, storage.User{}, storage.ErrUnavailable
	}
	return s.Store.GetSessionUser(ctx, id)
}

// TestAccessLogForwardAuthLevel: a proxy calls /auth/verify on every page
// load, so its answers 2xx–4xx log at log.forward_auth_level (debug by
// default, info, or off); its 5xx, sign-ins and other routes stay at info.
func TestAccessLogForwardAuthLevel(t *testing.T) {
	for _, tc := range []struct {
		config     string // log.forward_auth_level; "" leaves the default
		level      slog.Level
		wantVerify bool
	}{
		{"", slog.LevelInfo, false},
		{"", slog.LevelDebug, true},
		{app.ForwardAuthLogDebug, slog.LevelInfo, false},
		{app.ForwardAuthLogInfo, slog.LevelInfo, true},
		{app.ForwardAuthLogInfo, slog.LevelWarn, false},
		{app.ForwardAuthLogOff, slog.LevelDebug, false},
	} {
		name := tc.config
		if name == "" {
			name = "default"
		}
		t.Run(name+" at "+tc.level.String(), func(t *testing.T) {
			store := &failingSessions{Store: memory.New()}
			f := newFixtureWithStore(t, store, func(c *app.Config) {
				if tc.config != "" {
					c.Log.ForwardAuthLevel = tc.config
				}
			})
			l := newLoggedServer(t, f, tc.level, "text")
			status, body, _ := l.send(tokenRequest(f.token(f.claims())))
			if status != http.StatusFound {
				t.Fatalf("sign-in %d %s", status, body)
			}
			rec := f.signIn(f.token(f.claims()))
			cookie := sessionCookie(rec, f.srv.CookieName())
			for _, c := range []*http.Cookie{cookie, {Name: f.srv.CookieName(), Value: "not-a-session"}} {
				req := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
				req.AddCookie(c)
				l.send(req)
			}
			l.send(httptest.NewRequest(http.MethodGet, "/healthz", nil))
			store.down.Store(true)
			req := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
			req.AddCookie(cookie)
			if status, _, _ := l.send(req); status != http.StatusServiceUnavailable {
				t.Fatalf("forward-auth with the database down: %d, want 503", status)
			}
			out := l.output()
			atInfo := tc.level <= slog.LevelInfo
			for _, path := range []string{"path=/sso/jwt status=302", "path=/healthz", "path=/auth/verify status=503"} {
				if got := strings.Contains(out, path); got != atInfo {
					t.Errorf("%q logged = %v, want %v:\n%s", path, got, atInfo, out)
				}
			}
			for _, status := range []string{"200", "401"} {
				if got := strings.Contains(out, "path=/auth/verify status="+status); got != tc.wantVerify {
					t.Errorf("forward-auth %s logged = %v, want %v:\n%s", status, got, tc.wantVerify, out)
				}
			}
		})
	}
}
