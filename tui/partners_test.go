package tui

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
)

// registerForm opens the partner registration form and types a name and
// the allowed source IPs; the cursor stays on the IPs.
func (d *driver) registerForm(name, sourceIPs string) {
	d.keys("3", "n")
	d.typeText(name)
	d.keys("tab", "tab")
	d.typeText(sourceIPs)
}

func TestPartnersRegisterRejectsBadPolicyWithAPIMessage(t *testing.T) {
	svc := newService(t)
	d := drive(t, newModel(svc))
	d.registerForm("Portal", "10.0.0.0/8, nonsense")
	d.keys("ctrl+s")
	contains(t, d.view(), "✗ validation_error: allowed_source_ips[1]: not an IP or CIDR", "Register a partner")
	if ps, _ := svc.ListPartners(t.Context(), app.Console, "acme", nil); len(ps) != 0 {
		t.Fatal("partner registered despite the error")
	}
}

func TestPartnersSecretViewIsBoxedAndDropped(t *testing.T) {
	d := drive(t, newModel(newService(t)))
	d.keys("3", "n")
	d.typeText("Portal")
	d.keys("enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter")
	v := d.view()
	contains(t, v, "Partner registered", "It will never be shown again", "consumer secret  cs_", "╭")
	d.keys("q") // not a quit while the secret is shown
	if d.m.quit {
		t.Fatal("q quit from the secret view")
	}
	d.keys("enter")
	p := d.m.screens[2].(*partners)
	if p.secret != nil || strings.Contains(d.view(), "cs_") {
		t.Fatal("secret still held after dismissal")
	}
}

func TestPartnersKeyFromFileRotateToggleAndRemove(t *testing.T) {
	svc := newService(t)
	pv := registerPartner(t, svc)
	path := filepath.Join(t.TempDir(), "partner.pub")
	if err := os.WriteFile(path, []byte(testPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := drive(t, newModel(svc))
	d.keys("3", "enter", "a")
	d.typeText(path)
	d.keys("ctrl+s")
	contains(t, d.view(), "key added: kid", "Public keys (1)", "2048")

	d.keys("a")
	d.typeText(filepath.Join(t.TempDir(), "missing.pub"))
	d.keys("ctrl+s")
	contains(t, d.view(), "✗ validation_error: pem: cannot read the file")
	d.keys("esc")

	d.keys("r")
	d.keys("ctrl+s")
	contains(t, d.view(), "Consumer secret rotated", "keeps working until 2026-03-15 09:26")
	d.keys("enter")

	d.keys("t")
	contains(t, d.view(), `Deactivate partner "Portal"`)
	d.keys("y")
	contains(t, d.view(), "partner Portal deactivated", "[inactive]")
	d.keys("t")
	contains(t, d.view(), "partner Portal reactivated")

	d.keys("x")
	contains(t, d.view(), "Remove key")
	d.keys("y")
	contains(t, d.view(), "Public keys (0)")
	if ks, _ := svc.ListKeys(t.Context(), app.Console, "acme", pv.ID); len(ks) != 0 {
		t.Fatalf("key still stored: %+v", ks)
	}
}

func TestPartnersEditPoliciesSendsOnlyChanges(t *testing.T) {
	svc := newService(t)
	pv := registerPartner(t, svc)
	d := drive(t, newModel(svc))
	d.keys("3", "enter", "e")
	// max users (field 4) and allowed tenants (field 6)
	d.keys("tab", "tab", "tab")
	d.typeText("25")
	d.keys("tab", "tab")
	d.typeText("none")
	d.keys("ctrl+s")
	contains(t, d.view(), "policies of Portal saved", "max users      25", "tenants        none allowed")
	got, _ := svc.GetPartner(t.Context(), app.Console, "acme", pv.ID)
	if got.MaxUsers == nil || *got.MaxUsers != 25 || got.AllowedTenants == nil || len(got.AllowedTenants) != 0 || got.AllowedRoles != nil {
		t.Fatalf("policies = %+v", got)
	}
	// Clearing a field clears the restriction (null).
	d.keys("e", "tab", "tab", "tab")
	for range 2 {
		d.keys("backspace")
	}
	d.keys("ctrl+s")
	got, _ = svc.GetPartner(t.Context(), app.Console, "acme", pv.ID)
	if got.MaxUsers != nil {
		t.Fatalf("max users not cleared: %v", *got.MaxUsers)
	}
}

func TestReadPEM(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.pub")
	os.WriteFile(path, []byte("PEMDATA"), 0o600)
	for _, tc := range []struct{ in, want, err string }{
		{"-----BEGIN PUBLIC KEY-----\nabc", "-----BEGIN PUBLIC KEY-----\nabc", ""},
		{path, "PEMDATA", ""},
		{"  " + path + "  ", "PEMDATA", ""},
		{"not a key", "not a key", ""},
		{filepath.Join(dir, "nope.pub"), "", "pem: cannot read the file"},
	} {
		got, err := readPEM(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("readPEM(%q) err = %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("readPEM(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// TestPartnersDetailShowsJWKS: a partner that publishes a JWKS shows its URL,
// when it was fetched, its keys marked jwks and, during an outage, the error.
func TestPartnersDetailShowsJWKS(t *testing.T) {
	pk, err := app.ParsePublicKeyPEM(testPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(500)
			return
		}
		fmt.Fprintf(w, `{"keys":[{"kty":"RSA","kid":"idp-2026","n":%q,"e":"AQAB"}]}`,
			base64.RawURLEncoding.EncodeToString(pk.Public.N.Bytes()))
	}))
	defer srv.Close()
	cfg := app.Defaults()
	cfg.SSO.AllowInsecureJWKS = true
	now := fixedNow
	svc := newServiceWith(t, cfg, func() time.Time { return now })
	url := srv.URL + "/jwks.json"
	if _, err := svc.CreatePartner(t.Context(), app.Console, "acme", app.PartnerInput{Name: "IdP", JWKSURL: app.Val(url)}); err != nil {
		t.Fatal(err)
	}
	d := drive(t, newModel(svc))
	d.keys("3", "enter")
	contains(t, d.view(), "jwks url       "+url, "jwks fetched   "+fixedNow.UTC().Format("2006-01-02 15:04")+" UTC",
		"idp-2026", "jwks ")
	if strings.Contains(d.view(), "jwks error") {
		t.Fatal("an error is shown before any failure")
	}

	failing.Store(true)
	now = now.Add(cfg.SSO.JWKSRefresh)
	if n, err := svc.RefreshDueJWKS(t.Context()); err != nil || n != 1 {
		t.Fatalf("refresh: %d %v", n, err)
	}
	d.keys("esc", "enter")
	contains(t, d.view(), "jwks error", "HTTP 500", "idp-2026")
}
