package web

import (
	"net/http"
	"testing"
	"time"

	"gatehouse/app"
)

// TestRotateSecretDefaultGrace: a rotation that names no grace period (no
// body, an empty object) keeps the old secret working for
// app.DefaultRotateGrace, and only an explicit 0 ends it at once.
func TestRotateSecretDefaultGrace(t *testing.T) {
	if app.DefaultRotateGrace != 24*time.Hour {
		t.Fatalf("DefaultRotateGrace = %v; the API reference and the console say 86400 s", app.DefaultRotateGrace)
	}
	for _, c := range []struct {
		name, body string
		grace      time.Duration
	}{
		{"no body", "", app.DefaultRotateGrace},
		{"empty object", "{}", app.DefaultRotateGrace},
		{"null grace", `{"grace_period_seconds":null}`, app.DefaultRotateGrace},
		{"explicit hour", `{"grace_period_seconds":3600}`, time.Hour},
		{"explicit zero", `{"grace_period_seconds":0}`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			old := f.partner.ConsumerSecret
			code, rot := f.admin(t, "POST", "/api/v1/orgs/acme/partners/"+f.partner.ID+"/rotate-secret", c.body)
			if code != http.StatusOK {
				t.Fatalf("rotate: %d %v", code, rot)
			}
			until, _ := rot["previous_valid_until"].(string)
			if c.grace == 0 {
				if until != "" {
					t.Errorf("grace 0: previous_valid_until = %q, want none", until)
				}
			} else if got, err := time.Parse(time.RFC3339Nano, until); err != nil || !got.Equal(f.clock.Now().Add(c.grace)) {
				t.Errorf("previous_valid_until = %q, want %s", until, f.clock.Now().Add(c.grace))
			}
			// The old secret signs in (or not) as the answer promised.
			rec := f.hmacToken(hmacReq{secret: old})
			if (rec.Code == http.StatusOK) != (c.grace > 0) {
				t.Errorf("old secret after rotation with grace %v: %d %s", c.grace, rec.Code, rec.Body)
			}
			if c.grace > 0 {
				f.clock.Advance(c.grace + time.Second)
				if rec := f.hmacToken(hmacReq{secret: old}); rec.Code == http.StatusOK {
					t.Errorf("old secret still works after the grace period of %v", c.grace)
				}
			}
			if rec := f.hmacToken(hmacReq{secret: rot["consumer_secret"].(string)}); rec.Code != http.StatusOK {
				t.Errorf("new secret: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
