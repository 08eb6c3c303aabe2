package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
)

// opsHMAC posts an HMAC step 1 to the public handler.
func (f *fixture) opsHMAC(ck, secret, ts string, body map[string]any) *httptest.ResponseRecorder {
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, "/sso/hmac/token", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Consumer-Key", ck)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", app.SignHMAC(secret, ts, ck, raw))
	return f.do(req)
}

var opsNonce int

func opsBody(tenant, email, role string) map[string]any {
	opsNonce++
	return map[string]any{"tenantId": tenant, "email": email, "role": role, "nonce": fmt.Sprintf("opsnonce-%012d", opsNonce)}
}

func auditEvents(t *testing.T, w *opsWorld, query string) []storage.AuditEvent {
	t.Helper()
	status, body := w.call(t, "operator", "GET", "/api/v1/orgs/acme/audit"+query, "")
	if status != 200 {
		t.Fatalf("audit: %d %s", status, body)
	}
	var l struct {
		Events     []storage.AuditEvent `json:"events"`
		NextCursor string               `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatal(err)
	}
	return l.Events
}

// TestAuditEvents: every kind of event carries the fields an investigator
// needs, the list filters and pages, and no secret reaches the log.
func TestAuditEvents(t *testing.T) {
	w := newOpsWorld(t)
	var secrets []string // everything that must never appear in the log
	secrets = append(secrets, w.partner.ConsumerSecret, w.spare.ConsumerSecret, w.tokAdmin, w.tokRO, w.tokOther, w.tokRevoked)

	// Admin changes, as the operator and as a token.
	status, body := w.call(t, w.tokAdmin, "PATCH", "/api/v1/orgs/acme/partners/"+w.spare.ID, `{"allowed_roles":["readOnly"],"max_users":3}`)
	if status != 200 {
		t.Fatalf("patch: %d %s", status, body)
	}
	status, body = w.call(t, "operator", "POST", "/api/v1/orgs/acme/partners/"+w.spare.ID+"/rotate-secret", `{"grace_period_seconds":60}`)
	var rot struct {
		ConsumerSecret string `json:"consumer_secret"`
	}
	json.Unmarshal(body, &rot)
	secrets = append(secrets, rot.ConsumerSecret)
	status, body = w.call(t, w.tokAdmin, "POST", "/api/v1/orgs/acme/admin-tokens", `{"role":"readOnly","label":"x"}`)
	var nt struct{ ID, Token string }
	json.Unmarshal(body, &nt)
	secrets = append(secrets, nt.Token)
	w.call(t, "operator", "DELETE", "/api/v1/orgs/acme/tenants/t3", "")
	w.call(t, w.tokAdmin, "DELETE", "/api/v1/orgs/acme/users/"+w.userID, "")

	// Sign-ins: JWT success and failure, HMAC success and failure.
	c := w.claims()
	c["jti"] = "jti-audit-1"
	good := w.token(c)
	secrets = append(secrets, good)
	rec := w.post(url.Values{"token": {good}}, "X-Forwarded-For", "203.0.113.9")
	if rec.Code != 302 {
		t.Fatalf("jwt sign-in: %d %s", rec.Code, rec.Body)
	}
	for _, ck := range rec.Result().Cookies() {
		secrets = append(secrets, ck.Value)
	}
	c2 := w.claims()
	c2["exp"] = w.clock.Now().Add(-time.Hour).Unix()
	expired := w.token(c2)
	secrets = append(secrets, expired)
	if rec := w.signIn(expired); rec.Code != 401 {
		t.Fatalf("expired: %d", rec.Code)
	}
	ts := w.clock.Now().UTC().Format(time.RFC3339)
	rec = w.opsHMAC(w.partner.ConsumerKey, w.partner.ConsumerSecret, ts, opsBody("t2", "carol@example.com", "readOnly"))
	if rec.Code != 200 {
		t.Fatalf("hmac: %d %s", rec.Code, rec.Body)
	}
	var lt struct{ Token string }
	json.Unmarshal(rec.Body.Bytes(), &lt)
	secrets = append(secrets, lt.Token)
	login := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt.Token), nil)
	if rec := w.do(login); rec.Code != 302 {
		t.Fatalf("hmac login: %d %s", rec.Code, rec.Body)
	}
	rec = w.opsHMAC(w.partner.ConsumerKey, w.partner.ConsumerSecret, ts, opsBody("nope", "carol@example.com", "readOnly"))
	if rec.Code != 403 {
		t.Fatalf("hmac unknown tenant: %d", rec.Code)
	}
	rec = w.opsHMAC(w.partner.ConsumerKey, "cs_wrong", ts, opsBody("t2", "carol@example.com", "readOnly"))
	if rec.Code != 401 {
		t.Fatalf("hmac bad sig: %d", rec.Code)
	}

	events := auditEvents(t, w, "?limit=500")
	byType := map[string][]storage.AuditEvent{}
	for _, e := range events {
		byType[e.Type] = append(byType[e.Type], e)
		if e.ID == "" || e.Time.IsZero() || e.Seq == 0 || e.Hash == "" || e.OrgID != "acme" {
			t.Errorf("event lacks identity: %+v", e)
		}
	}
	one := func(typ string) storage.AuditEvent {
		t.Helper()
		if len(byType[typ]) == 0 {
			t.Fatalf("no %s event; have %v", typ, keysOf(byType))
		}
		return byType[typ][0]
	}
	// Admin events: actor, target, before/after.
	upd := one("partner.update")
	if !strings.HasPrefix(upd.Actor, "token:tok_") || upd.Details["target"] != w.spare.ID {
		t.Errorf("partner.update actor/target: %+v", upd)
	}
	changes, _ := upd.Details["changes"].(map[string]any)
	mu, _ := changes["max_users"].(map[string]any)
	if mu == nil || mu["before"] != nil || mu["after"] != float64(3) {
		t.Errorf("partner.update before/after: %v", upd.Details)
	}
	if e := one("partner.rotate_secret"); e.Actor != "operator" || e.Details["consumer_secret"] != "[redacted]" {
		t.Errorf("rotate: %+v", e)
	}
	if e := one("tenant.delete"); e.Details["before"] == nil {
		t.Errorf("tenant.delete has no before: %+v", e)
	}
	if e := one("user.delete"); e.Details["before"] == nil || !strings.Contains(fmt.Sprint(e.Details["before"]), "bob@example.com") {
		t.Errorf("user.delete: %+v", e)
	}
	if e := one("admin_token.create"); e.Details["target"] != nt.ID {
		t.Errorf("admin_token.create: %+v", e)
	}
	for _, typ := range []string{"tenant.create", "partner.create", "key.add", "user.create", "admin_token.revoke"} {
		one(typ)
	}
	// Sign-in events: code, partner, credential, tenant, email, client address, request id.
	var okJWT, badJWT, okHMAC, badHMAC *storage.AuditEvent
	for i := range events {
		e := &events[i]
		switch {
		case e.Type == "signin.jwt" && e.Outcome == "success":
			okJWT = e
		case e.Type == "signin.jwt" && e.Code == app.CodeExpiredToken:
			badJWT = e
		case e.Type == "signin.hmac" && e.Outcome == "success":
			okHMAC = e
		case e.Type == "signin.hmac" && e.Code == app.CodeTenantNotAllowed:
			badHMAC = e
		}
	}
	if okJWT == nil || okJWT.PartnerID != w.partner.ID || okJWT.Details["credential"] != w.kid || okJWT.TenantID != "t1" ||
		okJWT.Email != "alice@example.com" || okJWT.ClientIP == "" || okJWT.RequestID == "" {
		t.Errorf("jwt success event: %+v", okJWT)
	}
	if badJWT == nil || badJWT.Outcome != "failure" || badJWT.PartnerID != w.partner.ID || badJWT.Details["credential"] != w.kid || badJWT.RequestID == "" {
		t.Errorf("jwt failure event: %+v", badJWT)
	}
	if okHMAC == nil || okHMAC.Details["credential"] != w.partner.ConsumerKey || okHMAC.TenantID != "t2" || okHMAC.Email != "carol@example.com" {
		t.Errorf("hmac success event: %+v", okHMAC)
	}
	if badHMAC == nil || badHMAC.Outcome != "failure" || badHMAC.ClientIP == "" || badHMAC.Details["credential"] != w.partner.ConsumerKey ||
		badHMAC.TenantID != "nope" || badHMAC.Email != "carol@example.com" {
		t.Errorf("hmac failure event: %+v", badHMAC)
	}

	// Filters and paging.
	for _, e := range auditEvents(t, w, "?type=signin.") {
		if !strings.HasPrefix(e.Type, "signin.") {
			t.Errorf("type filter let %s through", e.Type)
		}
	}
	page := auditEvents(t, w, "?limit=2")
	if len(page) != 2 || page[0].Seq < page[1].Seq {
		t.Errorf("paging: %d events", len(page))
	}
	if s, b := w.call(t, "operator", "GET", "/api/v1/orgs/acme/audit?limit=501", ""); s != 400 || !bytes.Contains(b, []byte("validation_error")) {
		t.Errorf("limit 501: %d %s", s, b)
	}
	if s, _ := w.call(t, "operator", "GET", "/api/v1/orgs/acme/audit?since=yesterday", ""); s != 400 {
		t.Errorf("bad since: %d", s)
	}
	if got := auditEvents(t, w, "?since="+url.QueryEscape(w.clock.Now().Add(time.Hour).Format(time.RFC3339))); len(got) != 0 {
		t.Errorf("since in the future: %d events", len(got))
	}
	// Another organization's token sees none of it.
	if s, _ := w.call(t, w.tokOther, "GET", "/api/v1/orgs/acme/audit", ""); s != 404 {
		t.Errorf("other org: %d", s)
	}

	// Scan the whole log (export) for secrets and full tokens.
	status, export := w.call(t, "operator", "GET", "/api/v1/audit/export", "")
	if status != 200 {
		t.Fatalf("export: %d", status)
	}
	lines := strings.Split(strings.TrimSpace(string(export)), "\n")
	if len(lines) < len(events) {
		t.Fatalf("export has %d lines, the list %d events", len(lines), len(events))
	}
	for _, l := range lines {
		var e storage.AuditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("export line is not JSON: %q", l)
		}
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret was not captured")
		}
		if bytes.Contains(export, []byte(s)) {
			t.Errorf("the audit log holds a secret or token: %.12s…", s)
		}
		if strings.HasPrefix(s, "cs_") && bytes.Contains(export, []byte(s[3:])) {
			t.Errorf("the audit log holds a consumer secret body")
		}
	}
	// The chain verifies.
	status, body = w.call(t, "operator", "GET", "/api/v1/audit/verify", "")
	var v app.AuditVerification
	json.Unmarshal(body, &v)
	if status != 200 || !v.OK || v.Events != len(lines) {
		t.Fatalf("verify: %d %s", status, body)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAuditVerifyCatchesTampering: changing, dropping or re-chaining an event
// is reported with the first bad seq.
// TestAdminEventsCarryTheRequestID: the audit event of an admin change
// carries the X-Request-ID its answer carried, over the socket and over TCP
// with a token, so request_id finds the event of any answer an operator
// quotes (SPEC §5), not only sign-ins'.
func TestAdminEventsCarryTheRequestID(t *testing.T) {
	w := newOpsWorld(t)
	for _, c := range []struct{ who, method, path, body, typ string }{
		{"operator", "POST", "/api/v1/orgs/acme/tenants", `{"id":"t-rid","name":"By request id"}`, "tenant.create"},
		{w.tokAdmin, "PATCH", "/api/v1/orgs/acme/partners/" + w.spare.ID, `{"max_users":7}`, "partner.update"},
	} {
		status, body, rid := w.callWithID(t, c.who, c.method, c.path, c.body)
		if status/100 != 2 || rid == "" {
			t.Fatalf("%s %s: %d %s, request id %q", c.method, c.path, status, body, rid)
		}
		status, body = w.call(t, "operator", "GET", "/api/v1/orgs/acme/audit?request_id="+rid, "")
		var got struct {
			Events []struct {
				Type      string `json:"type"`
				RequestID string `json:"request_id"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &got); status != 200 || err != nil {
			t.Fatalf("audit by request id: %d %s %v", status, body, err)
		}
		if len(got.Events) != 1 || got.Events[0].Type != c.typ || got.Events[0].RequestID != rid {
			t.Errorf("%s %s: events for request id %s = %+v, want one %s", c.method, c.path, rid, got.Events, c.typ)
		}
	}
}

func TestAuditVerifyCatchesTampering(t *testing.T) {
	w := newOpsWorld(t)
	ctx := context.Background()
	v, err := app.VerifyAuditChain(ctx, w.store)
	if err != nil || !v.OK || v.Events < 5 {
		t.Fatalf("clean chain: %+v %v", v, err)
	}
	var events []storage.AuditEvent
	w.store.WalkAudit(ctx, func(e storage.AuditEvent) error { events = append(events, e); return nil })
	cases := map[string]func([]storage.AuditEvent) []storage.AuditEvent{
		"modified": func(es []storage.AuditEvent) []storage.AuditEvent { es[2].Email = "mallory@example.com"; return es },
		"dropped":  func(es []storage.AuditEvent) []storage.AuditEvent { return append(es[:2:2], es[3:]...) },
		"rehashed": func(es []storage.AuditEvent) []storage.AuditEvent {
			es[2].Actor = "console"
			es[2].Hash, _ = storage.HashEvent(es[2])
			return es
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cp := append([]storage.AuditEvent(nil), events...)
			v, err := app.VerifyAuditChain(ctx, walkOnly{events: mutate(cp)})
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.BadSeq == 0 || v.BadSeq > events[3].Seq {
				t.Fatalf("not caught: %+v", v)
			}
		})
	}
}

// walkOnly is a store whose audit log is a given slice.
type walkOnly struct {
	storage.Store
	events []storage.AuditEvent
}

func (s walkOnly) WalkAudit(_ context.Context, fn func(storage.AuditEvent) error) error {
	for _, e := range s.events {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// TestMetricsStoreGauges: sessions, users per tenant and key last use are
// served from the store, cached between scrapes.
func TestMetricsStoreGauges(t *testing.T) {
	w := newOpsWorld(t)
	m := NewMetrics(nil)
	counting := &statsCounter{src: w.svc}
	m.WatchStore(counting)
	c := w.claims()
	if rec := w.signIn(w.token(c)); rec.Code != 302 {
		t.Fatalf("sign-in: %d", rec.Code)
	}
	m.KeyUsed("acme", w.kid, w.clock.Now())
	m.SignIn("jwt", "success", "", 3*time.Millisecond)
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	out := scrape()
	for _, want := range []string{
		"gatehouse_active_sessions 1",
		`gatehouse_users{org="acme",tenant="t1"} 2`,
		`gatehouse_users{org="acme",tenant="t3"} 0`,
		fmt.Sprintf(`gatehouse_partner_key_last_used_timestamp_seconds{kid=%q,org="acme",partner=%q} %s`, w.kid, w.partner.ID,
			strconv.FormatFloat(float64(w.clock.Now().Unix()), 'g', -1, 64)),
		`gatehouse_signins_total{code="",method="jwt",outcome="success"} 1`,
		`gatehouse_signin_duration_seconds_count{method="jwt"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	scrape()
	scrape()
	if counting.n != 1 {
		t.Errorf("three scrapes read the store %d times, want 1 (cached)", counting.n)
	}
}

type statsCounter struct {
	src StatsSource
	n   int
}

func (s *statsCounter) Stats(ctx context.Context) (app.Stats, error) {
	s.n++
	return s.src.Stats(ctx)
}
