package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRequestLogsEndToEnd: the real binary with log.format = "json" and
// log.forward_auth_level = "off" at level debug. The sign-in lines carry
// the code and ids with a numeric duration_ms, and forward-auth checks
// leave no line at all.
func TestRequestLogsEndToEnd(t *testing.T) {
	s := Start(t, "[log]\nlevel = \"debug\"\nformat = \"json\"\nforward_auth_level = \"off\"\n")
	w := s.Seed()

	token := w.Sign(t, "t1", "alice@example.com", "admin", "--ttl", "5m")
	ok := s.postForm(t, "/sso/jwt", url.Values{"token": {token}})
	if ok.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: %d %s", ok.StatusCode, readAll(ok))
	}
	var cookie *http.Cookie
	for _, c := range ok.Cookies() {
		if c.Name == "gatehouse_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("no session cookie: %+v", ok.Cookies())
	}
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/auth/verify", nil)
	req.AddCookie(cookie)
	r, err := s.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", r.StatusCode)
	}
	refused := s.postForm(t, "/sso/jwt", url.Values{"token": {"not.a.token"}})
	if refused.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: %d %s", refused.StatusCode, readAll(refused))
	}

	// Lines are written just after the answer: wait for the last request's
	// (by then the forward-auth check's would be there too).
	lines := func() map[string]map[string]any {
		byID := map[string]map[string]any{}
		for _, line := range strings.Split(s.Output(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
				byID[m["request_id"].(string)] = m
			}
		}
		return byID
	}
	okID, refusedID := ok.Header.Get("X-Request-ID"), refused.Header.Get("X-Request-ID")
	deadline := time.Now().Add(5 * time.Second)
	for lines()[refusedID] == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := lines()
	for _, tc := range []struct {
		id                         string
		code, org, partner, tenant string
	}{
		{okID, "", "acme", w.PartnerID, "t1"},
		{refusedID, "InvalidToken", "", "", ""},
	} {
		line := got[tc.id]
		if line == nil {
			t.Fatalf("no request line %s in:\n%s", tc.id, s.Output())
		}
		want := map[string]string{"code": tc.code, "org_id": tc.org, "partner_id": tc.partner, "tenant_id": tc.tenant}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("line %s: %s = %#v, want %q", tc.id, k, line[k], v)
			}
		}
		if _, isNumber := line["duration_ms"].(float64); !isNumber {
			t.Errorf("line %s: duration_ms = %#v, want a number", tc.id, line["duration_ms"])
		}
	}
	if strings.Contains(s.Output(), `"path":"/auth/verify"`) {
		t.Errorf("forward_auth_level = off still logs forward-auth:\n%s", s.Output())
	}
	if strings.Contains(s.Output(), token) {
		t.Error("the log holds the sign-in token")
	}
}
