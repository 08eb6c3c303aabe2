package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/app"
)

func (f *fixture) admin(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	h, err := f.srv.AdminHandler(OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Code != http.StatusNoContent {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: %d %q", method, path, rec.Code, rec.Body)
		}
	}
	return rec.Code, out
}

func TestPartnerRegistrationAndPolicies(t *testing.T) {
	f := newFixture(t)
	code, p := f.admin(t, "POST", "/api/v1/orgs/acme/partners", `{"name":"Reseller","allowed_email_domains":[],"allowed_roles":["readOnly"],"max_users":5}`)
	if code != 201 {
		t.Fatalf("%d %v", code, p)
	}
	secret, _ := p["consumer_secret"].(string)
	if !strings.HasPrefix(p["consumer_key"].(string), "ck_") || !strings.HasPrefix(secret, "cs_") || len(secret) < 3+43 {
		t.Fatalf("credentials %v", p)
	}
	if p["allowed_email_domains"] == nil || len(p["allowed_email_domains"].([]any)) != 0 {
		t.Errorf("[] must stay [] (nothing allowed): %v", p["allowed_email_domains"])
	}
	if p["allowed_source_ips"] != nil {
		t.Errorf("absent must be null (no restriction): %v", p["allowed_source_ips"])
	}
	id := p["id"].(string)
	base := "/api/v1/orgs/acme/partners/" + id

	_, got := f.admin(t, "GET", base, "")
	_, list := f.admin(t, "GET", "/api/v1/orgs/acme/partners", "")
	for _, body := range []map[string]any{got, list} {
		b, _ := json.Marshal(body)
		if strings.Contains(string(b), secret) || strings.Contains(string(b), "consumer_secret") {
			t.Fatalf("a read shows the secret: %s", b)
		}
	}

	// PATCH sets only what it names; null clears.
	code, patched := f.admin(t, "PATCH", base, `{"allowed_roles":null,"allowed_source_ips":["192.0.2.1","2001:db8::/32"]}`)
	if code != 200 || patched["allowed_roles"] != nil || patched["max_users"].(float64) != 5 || len(patched["allowed_source_ips"].([]any)) != 2 {
		t.Fatalf("patch: %d %v", code, patched)
	}
	// A no-op PATCH writes nothing: updated_at does not move.
	_, same := f.admin(t, "PATCH", base, `{"max_users":5}`)
	if same["updated_at"] != patched["updated_at"] {
		t.Errorf("no-op patch changed updated_at")
	}

	code, dup := f.admin(t, "POST", "/api/v1/orgs/acme/partners", `{"name":"Reseller"}`)
	if code != 409 || dup["code"] != app.CodePartnerAlreadyExists {
		t.Errorf("duplicate name: %d %v", code, dup)
	}

	for body, field := range map[string]string{
		`{"name":"X","allowed_source_ips":["10.0.0.1","10.0.0.0/8","nope"]}`:                    "allowed_source_ips[2]",
		`{"name":"X","allowed_source_ips":["10.0.0.1/8x"]}`:                                     "allowed_source_ips[0]",
		`{"name":"X","allowed_origins":["https://user@portal.example"]}`:                        "allowed_origins[0]",
		`{"name":"X","allowed_origins":["ftp://portal.example"]}`:                               "allowed_origins[0]",
		`{"name":"X","max_users":-1}`:                                                           "max_users",
		`{"name":"X","allowed_roles":["owner"]}`:                                                "allowed_roles[0]",
		`{"name":"X","allowed_tenants":["t9"]}`:                                                 "allowed_tenants[0]",
		`{"name":"X","user_provisioning":"sometimes"}`:                                          "user_provisioning",
		`{"name":"` + strings.Repeat("n", 256) + `"}`:                                           "name",
		`{"name":"X","allowed_email_domains":"example.com"}`:                                    "allowed_email_domains",
		`{"name":"X","colour":"blue"}`:                                                          "colour",
		`{"name":"X","allowed_email_domains":[` + strings.Repeat(`"a.com",`, 100) + `"b.com"]}`: "allowed_email_domains",
	} {
		code, e := f.admin(t, "POST", "/api/v1/orgs/acme/partners", body)
		if code != 400 || e["code"] != app.CodeValidation || !strings.HasPrefix(e["message"].(string), field) {
			t.Errorf("%s: %d %v (want message naming %s)", body[:min(len(body), 60)], code, e, field)
		}
	}

	if code, _ := f.admin(t, "POST", base+"/deactivate", ""); code != 200 {
		t.Fatal(code)
	}
	_, inactive := f.admin(t, "GET", "/api/v1/orgs/acme/partners?active=false", "")
	if len(inactive["partners"].([]any)) != 1 {
		t.Errorf("active=false filter: %v", inactive)
	}
	if code, back := f.admin(t, "POST", base+"/reactivate", ""); code != 200 || back["active"] != true {
		t.Fatal(code, back)
	}
	code, rot := f.admin(t, "POST", base+"/rotate-secret", `{"grace_period_seconds":3600}`)
	if code != 200 || rot["previous_valid_until"] == nil || !strings.HasPrefix(rot["consumer_secret"].(string), "cs_") {
		t.Fatalf("rotate: %d %v", code, rot)
	}
	if code, _ := f.admin(t, "POST", base+"/rotate-secret", `{"grace_period_seconds":604801}`); code != 400 {
		t.Errorf("grace too long: %d", code)
	}
	if code, _ := f.admin(t, "DELETE", base, ""); code != 204 {
		t.Fatal(code)
	}
	if code, _ := f.admin(t, "GET", base, ""); code != 404 {
		t.Fatal(code)
	}
}

func TestKeyUpload(t *testing.T) {
	f := newFixture(t)
	_, b := keys(t)
	path := "/api/v1/orgs/acme/partners/" + f.partner.ID + "/keys"
	body, _ := json.Marshal(map[string]string{"pem": pubPEM(t, b), "label": "second"})
	code, k := f.admin(t, "POST", path, string(body))
	if code != 201 || k["bits"].(float64) != 2048 || !strings.HasPrefix(k["fingerprint"].(string), "SHA256:") || len(k["kid"].(string)) != 43 {
		t.Fatalf("%d %v", code, k)
	}
	if code, e := f.admin(t, "POST", path, string(body)); code != 409 || e["code"] != app.CodeConflict {
		t.Errorf("same kid twice: %d %v", code, e)
	}
	for name, pem := range map[string]string{
		"private key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
		"garbage":     "hello",
		"two blocks":  pubPEM(t, b) + pubPEM(t, b),
		"empty":       "",
	} {
		body, _ := json.Marshal(map[string]string{"pem": pem})
		code, e := f.admin(t, "POST", path, string(body))
		if code != 400 || e["code"] != app.CodeValidation || !strings.HasPrefix(e["message"].(string), "pem") {
			t.Errorf("%s: %d %v", name, code, e)
		}
	}
	_, list := f.admin(t, "GET", path, "")
	if len(list["keys"].([]any)) != 2 {
		t.Fatalf("keys %v", list)
	}
	// Deleting the key stops its tokens at once.
	if code, _ := f.admin(t, "DELETE", path+"/"+f.kid, ""); code != 204 {
		t.Fatal(code)
	}
	rec := f.signIn(f.token(f.claims()))
	if rec.Code != 401 {
		t.Fatalf("token of a deleted key: %d", rec.Code)
	}
}

func TestUsersAdmin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, e := range []string{"zed@example.com", "amy@example.com", "Bob@Example.com"} {
		if _, err := f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: e, TenantID: "t1", Role: "readOnly", PartnerSSO: true}); err != nil {
			t.Fatal(err)
		}
	}
	code, page := f.admin(t, "GET", "/api/v1/orgs/acme/users?limit=2", "")
	users := page["users"].([]any)
	if code != 200 || len(users) != 2 || users[0].(map[string]any)["email"] != "amy@example.com" || page["next_cursor"] == "" {
		t.Fatalf("%d %v", code, page)
	}
	_, page2 := f.admin(t, "GET", "/api/v1/orgs/acme/users?limit=2&cursor="+page["next_cursor"].(string), "")
	if u := page2["users"].([]any); len(u) != 1 || u[0].(map[string]any)["email"] != "zed@example.com" {
		t.Fatalf("page 2 %v", page2)
	}
	if _, q := f.admin(t, "GET", "/api/v1/orgs/acme/users?q=BOB", ""); len(q["users"].([]any)) != 1 {
		t.Fatalf("q search %v", q)
	}
	if code, _ := f.admin(t, "GET", "/api/v1/orgs/acme/users?limit=501", ""); code != 400 {
		t.Errorf("limit 501: %d", code)
	}
	if code, e := f.admin(t, "GET", "/api/v1/orgs/acme/users?cursor=%21%21%21", ""); code != 400 || e["code"] != app.CodeValidation {
		t.Errorf("bad cursor: %d %v", code, e)
	}
	if code, e := f.admin(t, "POST", "/api/v1/orgs/acme/users", `{"email":"x@example.com","tenant_id":"nope","role":"admin","partner_sso":true}`); code != 400 || !strings.HasPrefix(e["message"].(string), "tenant_id") {
		t.Errorf("unknown tenant: %d %v", code, e)
	}
	if code, e := f.admin(t, "POST", "/api/v1/orgs/acme/users", `{"email":"AMY@example.com","tenant_id":"t1","role":"admin","partner_sso":true}`); code != 409 {
		t.Errorf("duplicate email (case-insensitive): %d %v", code, e)
	}
	if code, _ := f.admin(t, "DELETE", "/api/v1/orgs/acme/tenants/t1", ""); code != 409 {
		t.Errorf("deleting a tenant with users: %d", code)
	}
	if code, _ := f.admin(t, "DELETE", "/api/v1/orgs/acme/tenants/t2", ""); code != 204 {
		t.Errorf("deleting an empty tenant: %d", code)
	}
	if code, e := f.admin(t, "GET", "/api/v1/orgs/nope/users", ""); code != 404 || e["code"] != app.CodeNotFound {
		t.Errorf("unknown org: %d %v", code, e)
	}
}
