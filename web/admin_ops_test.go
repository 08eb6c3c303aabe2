package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
)

// opsKeyC is a third key, for uploads in the authorization matrix.
var (
	opsKeyOnce sync.Once
	opsKeyC    *rsa.PrivateKey
)

func opsThirdKey() *rsa.PrivateKey {
	opsKeyOnce.Do(func() {
		var err error
		if opsKeyC, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return opsKeyC
}

// opsWorld is a fixture with both admin listeners running for real: the
// operator on a Unix socket, bearer tokens on TCP. Org "acme" (tenants t1,
// t2 and an empty t3, partner Portal with key A, partner Spare with key B,
// user bob) and org "other", with tokens of every kind.
type opsWorld struct {
	*fixture
	socket     *http.Client
	tcp        string // http://127.0.0.1:port
	spare      app.PartnerView
	spareKid   string
	userID     string
	victimTok  string // an acme token to revoke
	tokAdmin   string
	tokRO      string
	tokOther   string
	tokRevoked string
}

func newOpsWorld(t *testing.T) *opsWorld {
	t.Helper()
	f := newFixture(t)
	w := &opsWorld{fixture: f}
	ctx := context.Background()
	svc := f.svc
	must(t, func() error {
		_, err := svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t3", Name: "Three"})
		return err
	})
	must(t, func() error {
		var err error
		w.spare, err = svc.CreatePartner(ctx, app.Operator, "acme", app.PartnerInput{Name: "Spare"})
		return err
	})
	_, b := keys(t)
	must(t, func() error {
		k, err := svc.AddKey(ctx, app.Operator, "acme", w.spare.ID, app.KeyInput{PEM: pubPEM(t, b)})
		w.spareKid = k.Kid
		return err
	})
	must(t, func() error {
		u, err := svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "bob@example.com", TenantID: "t1", Role: "admin", PartnerSSO: true})
		w.userID = u.ID
		return err
	})
	must(t, func() error {
		_, err := svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "other", Name: "Other"})
		return err
	})
	tok := func(org, role, label string) app.AdminTokenView {
		v, err := svc.CreateAdminToken(ctx, app.Operator, org, app.AdminTokenInput{Role: role, Label: label})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	w.tokAdmin, w.tokRO, w.tokOther = tok("acme", "admin", "a").Token, tok("acme", "readOnly", "r").Token, tok("other", "admin", "o").Token
	revoked := tok("acme", "admin", "revoked")
	w.tokRevoked = revoked.Token
	must(t, func() error { return svc.RevokeAdminToken(ctx, app.Operator, "acme", revoked.ID) })
	w.victimTok = tok("acme", "readOnly", "victim").ID

	// The operator on a real Unix socket.
	sockH, err := f.srv.AdminHandler(OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "gh-ops-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	sockSrv := &http.Server{Handler: sockH}
	go sockSrv.Serve(ln)
	t.Cleanup(func() { sockSrv.Close() })
	w.socket = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}

	// Bearer tokens on a real TCP listener.
	tcpH, err := f.srv.AdminHandler(TokenAuth(svc))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(tcpH)
	t.Cleanup(ts.Close)
	w.tcp = ts.URL
	return w
}

// call sends one admin request; bearer "" sends none, "operator" uses the socket.
func (w *opsWorld) call(t *testing.T, bearer, method, path, body string) (int, []byte) {
	t.Helper()
	status, b, _ := w.callWithID(t, bearer, method, path, body)
	return status, b
}

// callWithID is call that also returns the answer's X-Request-ID.
func (w *opsWorld) callWithID(t *testing.T, bearer, method, path, body string) (int, []byte, string) {
	t.Helper()
	base, client := w.tcp, http.DefaultClient
	if bearer == "operator" {
		base, client = "http://gatehouse", w.socket
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" && bearer != "operator" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("X-Request-ID")
}

// Route classes of the matrix.
const (
	clsRead     = "read"     // any actor of the organization
	clsWrite    = "write"    // operator or organization admin
	clsOperator = "operator" // operator only
	clsOrgList  = "orglist"  // GET /orgs: everyone authenticated (tokens see their own)
)

type opsRoute struct {
	method, path, body string
	class              string
	ok                 int
}

func (w *opsWorld) routes(t *testing.T) []opsRoute {
	valid := w.token(w.claims())
	pemC := pubPEM(t, opsThirdKey())
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	p, sp := w.partner.ID, w.spare.ID
	return []opsRoute{
		{"POST", "/api/v1/orgs", `{"id":"neworg","name":"New"}`, clsOperator, 201},
		{"GET", "/api/v1/orgs", "", clsOrgList, 200},
		{"GET", "/api/v1/orgs/acme", "", clsRead, 200},
		{"POST", "/api/v1/orgs/acme/tenants", `{"id":"t9","name":"Nine"}`, clsWrite, 201},
		{"GET", "/api/v1/orgs/acme/tenants", "", clsRead, 200},
		{"GET", "/api/v1/orgs/acme/tenants/t1", "", clsRead, 200},
		{"PATCH", "/api/v1/orgs/acme/tenants/t3", `{"name":"Three b"}`, clsWrite, 200},
		{"DELETE", "/api/v1/orgs/acme/tenants/t3", "", clsWrite, 204},
		{"POST", "/api/v1/orgs/acme/partners", `{"name":"Nine"}`, clsWrite, 201},
		{"GET", "/api/v1/orgs/acme/partners", "", clsRead, 200},
		{"GET", "/api/v1/orgs/acme/partners/" + p, "", clsRead, 200},
		{"PATCH", "/api/v1/orgs/acme/partners/" + sp, `{"max_users":5}`, clsWrite, 200},
		{"DELETE", "/api/v1/orgs/acme/partners/" + sp, "", clsWrite, 204},
		{"POST", "/api/v1/orgs/acme/partners/" + sp + "/deactivate", "", clsWrite, 200},
		{"POST", "/api/v1/orgs/acme/partners/" + sp + "/reactivate", "", clsWrite, 200},
		{"POST", "/api/v1/orgs/acme/partners/" + sp + "/rotate-secret", `{"grace_period_seconds":0}`, clsWrite, 200},
		{"POST", "/api/v1/orgs/acme/partners/" + sp + "/keys", js(map[string]string{"pem": pemC}), clsWrite, 201},
		{"GET", "/api/v1/orgs/acme/partners/" + sp + "/keys", "", clsRead, 200},
		{"DELETE", "/api/v1/orgs/acme/partners/" + sp + "/keys/" + w.spareKid, "", clsWrite, 204},
		{"GET", "/api/v1/orgs/acme/users", "", clsRead, 200},
		{"POST", "/api/v1/orgs/acme/users", `{"email":"new@example.com","tenant_id":"t1","role":"readOnly","partner_sso":true}`, clsWrite, 201},
		{"GET", "/api/v1/orgs/acme/users/" + w.userID, "", clsRead, 200},
		{"DELETE", "/api/v1/orgs/acme/users/" + w.userID, "", clsWrite, 204},
		{"GET", "/api/v1/orgs/acme/audit", "", clsRead, 200},
		{"POST", "/api/v1/orgs/acme/admin-tokens", `{"role":"readOnly","label":"ci"}`, clsWrite, 201},
		{"GET", "/api/v1/orgs/acme/admin-tokens", "", clsRead, 200},
		{"DELETE", "/api/v1/orgs/acme/admin-tokens/" + w.victimTok, "", clsWrite, 204},
		{"POST", "/api/v1/orgs/acme/token-check", js(map[string]string{"token": valid}), clsRead, 200},
		{"POST", "/api/v1/rekey", "", clsOperator, 200},
		{"GET", "/api/v1/audit/verify", "", clsOperator, 200},
		{"GET", "/api/v1/audit/export", "", clsOperator, 200},
		{"GET", "/api/v1/backup", "", clsOperator, 200},
	}
}

// expect is the matrix: what each actor gets on each class of route.
func expectStatus(actor string, r opsRoute) int {
	switch actor {
	case "operator":
		return r.ok
	case "revoked", "none", "garbage":
		return 401
	}
	switch r.class {
	case clsOrgList:
		return 200
	case clsOperator:
		return 403
	}
	if actor == "other" {
		return 404
	}
	if actor == "readOnly" && r.class == clsWrite {
		return 403
	}
	return r.ok
}

// TestAuthorizationMatrix runs every admin route as every kind of actor,
// over the real socket and TCP listeners, each on fresh state.
func TestAuthorizationMatrix(t *testing.T) {
	actors := []string{"operator", "admin", "readOnly", "other", "revoked", "none", "garbage"}
	probe := newOpsWorld(t)
	n := len(probe.routes(t))
	for i := 0; i < n; i++ {
		for _, actor := range actors {
			w := newOpsWorld(t)
			r := w.routes(t)[i]
			name := fmt.Sprintf("%s %s as %s", r.method, r.path, actor)
			bearer := map[string]string{"operator": "operator", "admin": w.tokAdmin, "readOnly": w.tokRO,
				"other": w.tokOther, "revoked": w.tokRevoked, "none": "", "garbage": "gha_" + strings.Repeat("x", 43)}[actor]
			t.Run(name, func(t *testing.T) {
				status, body := w.call(t, bearer, r.method, r.path, r.body)
				want := expectStatus(actor, r)
				if status != want {
					t.Fatalf("status %d, want %d: %s", status, want, body)
				}
				if status >= 400 {
					var e struct{ Code, Message string }
					if err := json.Unmarshal(body, &e); err != nil {
						t.Fatalf("error body not JSON: %s", body)
					}
					wantCode := map[int]string{401: "unauthorized", 403: "forbidden", 404: "not_found"}[status]
					if e.Code != wantCode {
						t.Fatalf("code %q, want %q", e.Code, wantCode)
					}
					if status == 404 && strings.Contains(e.Message, "other") {
						t.Fatalf("404 names the organization: %s", body)
					}
				}
				if actor == "admin" && r.path == "/api/v1/orgs" && r.method == "GET" {
					if !bytes.Contains(body, []byte(`"acme"`)) || bytes.Contains(body, []byte(`"other"`)) {
						t.Fatalf("a token lists only its organization: %s", body)
					}
				}
			})
		}
	}
}

// TestAdminTokenAuthSameWork: absent, malformed, unknown and revoked tokens
// get the same answer after the same work (one hash lookup each).
func TestAdminTokenAuthSameWork(t *testing.T) {
	w := newOpsWorld(t)
	counter := &countingStore{Store: w.store}
	svc, err := app.New(app.Options{Store: counter, Config: w.svc.Config(), Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var answers []string
	for _, h := range []string{"", "Bearer", "Bearer short", "Basic dXNlcjpwYXNz", "Bearer gha_" + strings.Repeat("A", 43), "Bearer " + w.tokRevoked,
		"Bearer " + w.tokAdmin + "x", "Bearer " + strings.Repeat("z", 10000)} {
		before := counter.lookups.Load()
		_, err := svc.AuthenticateAdminToken(ctx, h)
		if got := counter.lookups.Load() - before; got != 1 {
			t.Errorf("header %.20q: %d lookups, want exactly 1", h, got)
		}
		e := app.AsError(err)
		answers = append(answers, e.Code+": "+e.Message)
	}
	for _, a := range answers {
		if a != answers[0] || !strings.HasPrefix(a, "unauthorized") {
			t.Fatalf("answers differ: %q", answers)
		}
	}
	a, err := svc.AuthenticateAdminToken(ctx, "Bearer "+w.tokRO)
	if err != nil || a.OrgID != "acme" || a.Role != "readOnly" || a.Kind != app.ActorToken {
		t.Fatalf("valid token: %+v %v", a, err)
	}
}

type countingStore struct {
	storage.Store
	lookups atomicCounter
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) Load() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }
func (c *atomicCounter) Add()      { c.mu.Lock(); c.n++; c.mu.Unlock() }

func (c *countingStore) GetAdminTokenByHash(ctx context.Context, h string) (storage.AdminToken, error) {
	c.lookups.Add()
	return c.Store.GetAdminTokenByHash(ctx, h)
}

// TestAdminTokenLifecycle: shown once, stored hashed, listed without value,
// last use recorded, revocation immediate.
func TestAdminTokenLifecycle(t *testing.T) {
	w := newOpsWorld(t)
	status, body := w.call(t, "operator", "POST", "/api/v1/orgs/acme/admin-tokens", `{"role":"admin","label":"deploy bot"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var created struct{ ID, Token, Role, Label string }
	json.Unmarshal(body, &created)
	if !strings.HasPrefix(created.Token, "gha_") || len(created.Token) != 47 || created.Role != "admin" || created.Label != "deploy bot" {
		t.Fatalf("created: %s", body)
	}
	// Stored only as a hash.
	var dump bytes.Buffer
	w.store.Backup(context.Background(), &dump)
	if bytes.Contains(dump.Bytes(), []byte(created.Token)) || bytes.Contains(dump.Bytes(), []byte(created.Token[4:])) {
		t.Fatal("the token value is stored")
	}
	// Works on TCP; last use recorded; list never shows a value.
	if s, b := w.call(t, created.Token, "GET", "/api/v1/orgs/acme/tenants", ""); s != 200 {
		t.Fatalf("use: %d %s", s, b)
	}
	_, list := w.call(t, created.Token, "GET", "/api/v1/orgs/acme/admin-tokens", "")
	if bytes.Contains(list, []byte(created.Token)) || bytes.Contains(list, []byte(`"hash"`)) || !bytes.Contains(list, []byte(created.ID)) {
		t.Fatalf("list: %s", list)
	}
	var l struct {
		AdminTokens []struct {
			ID         string
			LastUsedAt *time.Time `json:"last_used_at"`
		} `json:"admin_tokens"`
	}
	json.Unmarshal(list, &l)
	for _, x := range l.AdminTokens {
		if x.ID == created.ID && x.LastUsedAt == nil {
			t.Fatal("last use not recorded")
		}
	}
	// A token cannot revoke another organization's token.
	if s, _ := w.call(t, w.tokOther, "DELETE", "/api/v1/orgs/acme/admin-tokens/"+created.ID, ""); s != 404 {
		t.Fatalf("other org revoke: %d", s)
	}
	if s, _ := w.call(t, w.tokOther, "DELETE", "/api/v1/orgs/other/admin-tokens/"+created.ID, ""); s != 404 {
		t.Fatalf("revoke through own org: %d", s)
	}
	// Revocation takes effect on the very next request.
	if s, b := w.call(t, created.Token, "DELETE", "/api/v1/orgs/acme/admin-tokens/"+created.ID, ""); s != 204 {
		t.Fatalf("self revoke: %d %s", s, b)
	}
	if s, _ := w.call(t, created.Token, "GET", "/api/v1/orgs/acme/tenants", ""); s != 401 {
		t.Fatalf("after revoke: %d", s)
	}
	// Validation.
	if s, b := w.call(t, "operator", "POST", "/api/v1/orgs/acme/admin-tokens", `{"role":"root"}`); s != 400 || !bytes.Contains(b, []byte("role")) {
		t.Fatalf("bad role: %d %s", s, b)
	}
}
