package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRS256SignInEndToEnd plays the whole Plerion-style flow against the
// real binary: the operator sets up over the admin socket, the partner
// portal signs with `gatehouse sign`, the browser posts the token and
// follows its cookie to forward-auth, and deleting the user ends the session.
func TestRS256SignInEndToEnd(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()

	token := w.Sign(t, "t1", " Alice@Example.COM", "admin", "--name", "Alice", "--ttl", "5m")
	resp := s.postForm(t, "/sso/jwt", url.Values{"token": {token}, "return_to": {"https://dash.example.test/t1/reports"}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, readAll(resp))
	}
	if loc := resp.Header.Get("Location"); loc != "https://dash.example.test/t1/reports" {
		t.Errorf("Location %q", loc)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", resp.Cookies())
	}

	verify := func(query string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.Base+"/auth/verify"+query, nil)
		req.AddCookie(cookie)
		r, err := s.Browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	r := verify("?org=acme&tenant=t1&role=admin")
	if r.StatusCode != 200 {
		t.Fatalf("verify: %d", r.StatusCode)
	}
	want := map[string]string{"X-Gatehouse-Email": "alice@example.com", "X-Gatehouse-Name": "Alice",
		"X-Gatehouse-Org": "acme", "X-Gatehouse-Tenant": "t1", "X-Gatehouse-Role": "admin"}
	for h, v := range want {
		if got := r.Header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	userID := r.Header.Get("X-Gatehouse-User")
	if userID == "" {
		t.Fatal("no X-Gatehouse-User")
	}
	if r := verify("?org=acme&tenant=t2"); r.StatusCode != http.StatusForbidden {
		t.Errorf("other tenant: %d", r.StatusCode)
	}

	// A later sign-in with a lower role applies to the existing session at once.
	down := w.Sign(t, "t1", "alice@example.com", "readOnly")
	if resp := s.postForm(t, "/sso/jwt", url.Values{"token": {down}}); resp.StatusCode != http.StatusFound {
		t.Fatalf("second sign-in: %d", resp.StatusCode)
	}
	if r := verify(""); r.Header.Get("X-Gatehouse-Role") != "readOnly" {
		t.Errorf("role after downgrade: %q", r.Header.Get("X-Gatehouse-Role"))
	}
	if r := verify("?role=admin"); r.StatusCode != http.StatusForbidden {
		t.Errorf("role=admin after downgrade: %d", r.StatusCode)
	}

	// The admin sees a Partner SSO user.
	var got struct {
		PartnerSSO bool   `json:"partner_sso"`
		TenantID   string `json:"tenant_id"`
		Sessions   int    `json:"sessions"`
	}
	s.MustAPI("GET", "/api/v1/orgs/acme/users/"+userID, nil, 200, &got)
	if !got.PartnerSSO || got.TenantID != "t1" || got.Sessions != 2 {
		t.Errorf("user profile %+v", got)
	}

	// Errors keep their contract over the wire.
	expired := w.Sign(t, "t1", "bob@example.com", "readOnly", "--ttl", "-10m")
	resp = s.postForm(t, "/sso/jwt", url.Values{"token": {expired}})
	if code := errorCode(t, resp); resp.StatusCode != 401 || code != "ExpiredToken" {
		t.Errorf("expired: %d %s", resp.StatusCode, code)
	}

	// Deleting the user revokes the session at once.
	s.MustAPI("DELETE", "/api/v1/orgs/acme/users/"+userID, nil, 204, nil)
	if r := verify(""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session survived user deletion: %d", r.StatusCode)
	}

	// The user can sign in again afterwards (Plerion's "onboarding" path), into another tenant.
	again := w.Sign(t, "t2", "alice@example.com", "admin")
	if resp := s.postForm(t, "/sso/jwt", url.Values{"token": {again}}); resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in after delete: %d %s", resp.StatusCode, readAll(resp))
	}
	if strings.Contains(s.Output(), token) || strings.Contains(s.Output(), cookie.Value) {
		t.Error("the server log contains a token or session id")
	}
}

// TestDataSurvivesRestart: a 302 means the user and session are on disk.
func TestDataSurvivesRestart(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	resp := s.postForm(t, "/sso/jwt", url.Values{"token": {w.Sign(t, "t1", "carol@example.com", "admin")}})
	if resp.StatusCode != http.StatusFound {
		t.Fatal(resp.StatusCode)
	}
	cookie := resp.Cookies()[0]
	s.Stop()
	s.StartProcess()
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/session", nil)
	req.AddCookie(cookie)
	r, err := s.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		User struct{ Email string } `json:"user"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	r.Body.Close()
	if r.StatusCode != 200 || body.User.Email != "carol@example.com" {
		t.Fatalf("after restart: %d %+v", r.StatusCode, body)
	}
}

// TestSecondServerRefused: a second server on the same config fails fast
// and clearly: its listeners are bound before the database is opened, so it
// is the port that is taken (with another port, bbolt's lock refuses it:
// TestServeDatabaseInUse).
func TestSecondServerRefused(t *testing.T) {
	s := Start(t, "")
	out, err := runErr(t, "serve", "--config", s.Config)
	if err == nil {
		t.Fatal("a second server on the same database started")
	}
	addr := strings.TrimPrefix(s.Base, "http://")
	if !strings.Contains(out, "server.listen "+addr+": address already in use") || !strings.Contains(out, "gatehouse serve") {
		t.Errorf("unclear error: %s", out)
	}
}

func (s *Server) postForm(t testing.TB, path string, form url.Values) *http.Response {
	t.Helper()
	resp, err := s.Browser.PostForm(s.Base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func errorCode(t testing.TB, r *http.Response) string {
	t.Helper()
	var e struct{ Code string }
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return e.Code
}
