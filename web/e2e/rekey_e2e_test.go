package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRekeyRetiresOldKeyVersion: secrets sealed under version 1, a ring of
// versions 1 and 2, `gatehouse rekey` through the running server's socket,
// then a restart with version 1 removed — and the partner's HMAC secret
// still verifies.
func TestRekeyRetiresOldKeyVersion(t *testing.T) {
	for _, tool := range []string{"openssl", "curl", "jq", "bash"} {
		RequireTool(t, tool)
	}
	k1 := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("1", 32)))
	k2 := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("2", 32)))
	s := Start(t, fmt.Sprintf("[crypto]\nencryption_keys = { 1 = %q }\n", k1))
	w := s.Seed()

	rewrite := func(keys string) {
		cfg, err := os.ReadFile(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(cfg), "[crypto]")
		if err := os.WriteFile(s.Config, []byte(head+"[crypto]\nencryption_keys = "+keys+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.Stop()
	rewrite(fmt.Sprintf("{ 1 = %q, 2 = %q }", k1, k2))
	s.StartProcess()
	out := Run(t, "rekey", "--config", s.Config)
	if !strings.Contains(out, "re-sealed 1 partner secret") {
		t.Fatalf("rekey: %q", out)
	}
	s.Stop()
	rewrite(fmt.Sprintf("{ 2 = %q }", k2))
	s.StartProcess()
	if code, body := s.API("GET", "/api/v1/health", nil); code != 200 {
		t.Fatalf("health after retiring version 1: %d %s", code, body)
	}
	loginURL := hmacLoginURL(t, s, w, "t1", "erin@example.com", "admin")
	resp, err := s.Browser.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 {
		t.Fatalf("HMAC sign-in after rekey: %d", resp.StatusCode)
	}
}
