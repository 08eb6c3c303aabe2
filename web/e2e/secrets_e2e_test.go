package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
)

// startConfigured runs `gatehouse serve` with the config body returned by
// cfg (given the listen address, data dir and socket); Start fixes the
// [server] and [admin] sections, this test needs its own.
func startConfigured(t *testing.T, cfg func(listen, dir, socket string) string) *Server {
	t.Helper()
	dir := t.TempDir()
	addr := FreePort(t)
	s := &Server{t: t, Dir: filepath.Join(dir, "data"), Base: "http://" + addr, Socket: filepath.Join(dir, "admin.sock"),
		Config: filepath.Join(dir, "config.toml")}
	if err := os.WriteFile(s.Config, []byte(cfg(addr, s.Dir, s.Socket)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	t.Cleanup(s.Stop)
	return s
}

// haystack collects everything an observer could see: response bodies and
// headers, logs, metrics, audit events, the database file.
type haystack struct {
	t     *testing.T
	parts map[string]*bytes.Buffer
}

func (h *haystack) add(where string, b []byte) {
	if h.parts[where] == nil {
		h.parts[where] = &bytes.Buffer{}
	}
	h.parts[where].Write(b)
	h.parts[where].WriteByte('\n')
}

// response records a response's body and headers; skipCookies leaves out
// Set-Cookie of a successful sign-in (where the session id belongs).
func (h *haystack) response(where string, resp *http.Response, skipCookies bool) string {
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hdr := resp.Header.Clone()
	if skipCookies {
		hdr.Del("Set-Cookie")
	}
	var b bytes.Buffer
	hdr.Write(&b)
	h.add(where+" headers", b.Bytes())
	h.add(where+" bodies", body)
	return string(body)
}

// TestNoSecretsInOutput drives a full run — registrations, admin tokens,
// RS256 and HMAC sign-ins, refusals, replays, forward-auth, logout, secret
// rotation, token check — then searches the server's whole output, every
// response, /metrics, the audit log and the raw database file for every
// secret used. None may appear.
func TestNoSecretsInOutput(t *testing.T) {
	adminAddr := FreePort(t)
	s := startConfigured(t, func(listen, dir, socket string) string {
		return fmt.Sprintf("[server]\nlisten = %q\npublic_url = %q\n\n[storage]\ndir = %q\n\n[admin]\nsocket = %q\nlisten = %q\n\n"+
			"[ratelimit]\nsignin_per_ip = 0\n\n[log]\nlevel = \"debug\"\nformat = \"json\"\n", listen, "http://"+listen, dir, socket, adminAddr)
	})
	w := s.Seed()
	h := &haystack{t: t, parts: map[string]*bytes.Buffer{}}
	secrets := map[string]string{"consumer secret": w.ConsumerSecret}
	addJWT := func(name, tok string) {
		secrets[name] = tok
		if p := strings.Split(tok, "."); len(p) == 3 && len(p[2]) > 40 {
			secrets[name+" (signature)"] = p[2]
		}
	}
	post := func(path string, form url.Values) *http.Response {
		resp, err := s.Browser.PostForm(s.Base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	get := func(path string, cookie *http.Cookie) *http.Response {
		req, _ := http.NewRequest("GET", s.Base+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := s.Browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// Admin tokens over the TCP listener: one good call, one with a wrong token.
	var at struct{ ID, Token string }
	s.MustAPI("POST", "/api/v1/orgs/acme/admin-tokens", map[string]any{"role": "admin", "label": "ci"}, 201, &at)
	secrets["admin token"] = at.Token
	for i, tok := range []string{at.Token, at.Token + "x", strings.ToUpper(at.Token)} {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+"/api/v1/orgs/acme/users?token="+url.QueryEscape(tok), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 200, false: 401}[i == 0]; resp.StatusCode != want {
			t.Errorf("admin TCP with token %d: %d", i, resp.StatusCode)
		}
		h.response("admin TCP", resp, false)
	}

	// RS256: success, replay, expired, tampered, wrong place.
	good := w.Sign(t, "t1", "alice@example.com", "admin", "--name", "Alice")
	addJWT("JWT", good)
	resp := post("/sso/jwt", url.Values{"token": {good}})
	if resp.StatusCode != 302 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		session = c
	}
	secrets["session cookie (JWT)"] = session.Value
	h.response("sign-in", resp, true)
	h.response("replayed JWT", post("/sso/jwt", url.Values{"token": {good}}), false)
	expired := w.Sign(t, "t1", "alice@example.com", "admin", "--ttl", "-10m")
	addJWT("expired JWT", expired)
	h.response("expired JWT", post("/sso/jwt", url.Values{"token": {expired}}), false)
	p := strings.Split(w.Sign(t, "t1", "alice@example.com", "admin"), ".")
	tampered := p[0] + "." + rawB64([]byte(`{"organizationId":"acme","tenantId":"t2","role":"admin","email":"alice@example.com","exp":9999999999}`)) + "." + p[2]
	addJWT("tampered JWT", tampered)
	h.response("tampered JWT", post("/sso/jwt", url.Values{"token": {tampered}}), false)
	conflict := w.Sign(t, "t2", "alice@example.com", "readOnly")
	addJWT("conflicting JWT", conflict)
	h.response("conflicting JWT", post("/sso/jwt", url.Values{"token": {conflict}}), false)
	inQuery := w.Sign(t, "t1", "bob@example.com", "admin")
	addJWT("JWT in the query", inQuery)
	h.response("JWT in the query", post("/sso/jwt?token="+url.QueryEscape(inQuery), url.Values{}), false)
	html := w.Sign(t, "t1", "carol@example.com", "admin", "--ttl", "-10m")
	addJWT("JWT (HTML error)", html)
	req, _ := http.NewRequest("POST", s.Base+"/sso/jwt", strings.NewReader(url.Values{"token": {html}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if resp, err := s.Browser.Do(req); err == nil {
		h.response("HTML error page", resp, false)
	}

	// Sessions: forward-auth, /session, the home page, logout.
	h.response("verify", get("/auth/verify", session), false)
	h.response("session", get("/session", session), false)
	h.response("home", get("/", session), false)
	h.response("forged cookie", get("/auth/verify", &http.Cookie{Name: session.Name, Value: session.Value[:len(session.Value)-2] + "AA"}), false)

	// HMAC: token, login, reuse, bad signature, the secret sent as the key.
	hmacPost := func(ck, secret, body string) *http.Response {
		ts := time.Now().UTC().Format(time.RFC3339)
		req, _ := http.NewRequest("POST", s.Base+"/sso/hmac/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Consumer-Key", ck)
		req.Header.Set("X-Timestamp", ts)
		req.Header.Set("X-Signature", app.SignHMAC(secret, ts, ck, []byte(body)))
		resp, err := s.Browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp = hmacPost(w.ConsumerKey, w.ConsumerSecret, `{"tenantId":"t1","email":"dave@example.com","role":"readOnly","nonce":"secrets-nonce-00000001"}`)
	var lt struct{ Token, LoginURL string }
	if err := json.NewDecoder(resp.Body).Decode(&lt); err != nil || lt.Token == "" {
		t.Fatalf("hmac token: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	secrets["login token"] = lt.Token
	resp = get("/sso/hmac/login?token="+url.QueryEscape(lt.Token), nil)
	if resp.StatusCode != 302 {
		t.Fatalf("hmac login: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		secrets["session cookie (HMAC)"] = c.Value
	}
	h.response("hmac login", resp, true)
	h.response("hmac login reuse", get("/sso/hmac/login?token="+url.QueryEscape(lt.Token), nil), false)
	h.response("hmac bad signature", hmacPost(w.ConsumerKey, "cs_wrong", `{"tenantId":"t1","email":"dave@example.com","role":"readOnly","nonce":"secrets-nonce-00000002"}`), false)
	h.response("hmac secret as key", hmacPost(w.ConsumerSecret, w.ConsumerSecret, `{"tenantId":"t1","email":"dave@example.com","role":"readOnly","nonce":"secrets-nonce-00000003"}`), false)
	h.response("hmac secret in body", hmacPost(w.ConsumerKey, "cs_wrong", `{"tenantId":"t1","email":"dave@example.com","role":"readOnly","nonce":"secrets-nonce-00000004","name":"`+w.ConsumerSecret+`"}`), false)

	// Rotation: the new secret signs; the old one is secret too.
	var rot struct {
		ConsumerSecret string `json:"consumer_secret"`
	}
	s.MustAPI("POST", "/api/v1/orgs/acme/partners/"+w.PartnerID+"/rotate-secret", map[string]any{"grace_period_seconds": 60}, 200, &rot)
	secrets["rotated consumer secret"] = rot.ConsumerSecret
	h.response("hmac after rotation", hmacPost(w.ConsumerKey, rot.ConsumerSecret, `{"tenantId":"t1","email":"erin@example.com","role":"readOnly","nonce":"secrets-nonce-00000005"}`), false)

	// Token check on the admin API judges a token without echoing it.
	if code, body := s.API("POST", "/api/v1/orgs/acme/token-check", map[string]any{"token": good}); code != 404 {
		h.add("token check bodies", body)
	}
	h.response("logout", func() *http.Response {
		req, _ := http.NewRequest("POST", s.Base+"/logout", nil)
		req.AddCookie(session)
		r, err := s.Browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}(), true)

	// Metrics and the audit log.
	if code, m := s.API("GET", "/metrics", nil); code != 200 {
		t.Fatalf("metrics on the admin socket: %d", code)
	} else {
		h.add("metrics", m)
	}
	code, audit := s.API("GET", "/api/v1/orgs/acme/audit?limit=500", nil)
	if code != 200 {
		t.Fatalf("audit list: %d %s", code, audit)
	}
	h.add("audit API", audit)
	if code, export := s.API("GET", "/api/v1/audit/export", nil); code == 200 {
		h.add("audit export", export)
	}
	if !bytes.Contains(audit, []byte("signin.jwt")) || !bytes.Contains(audit, []byte("signin.hmac")) {
		t.Fatalf("the audit log lacks the sign-ins: %.500s", audit)
	}

	// Stop, then add the whole output and the raw database file.
	s.Stop()
	h.add("server output", []byte(s.Output()))
	db, err := os.ReadFile(filepath.Join(s.Dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	h.add("database file", db)
	if !strings.Contains(s.Output(), "request") {
		t.Fatalf("the server logged nothing; the search would prove nothing:\n%s", s.Output())
	}

	for name, secret := range secrets {
		if len(secret) < 16 {
			t.Fatalf("secret %s is suspiciously short: %q", name, secret)
		}
		for where, buf := range h.parts {
			if bytes.Contains(buf.Bytes(), []byte(secret)) {
				t.Errorf("%s appears in %s", name, where)
			}
		}
	}
	t.Logf("searched %d places for %d secrets", len(h.parts), len(secrets))
}
