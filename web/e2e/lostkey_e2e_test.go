package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveRefuses runs `gatehouse serve` on cfg and expects it to stop by
// itself, non-zero, with one line naming the missing key version.
func serveRefuses(t *testing.T, cfg, wantLine string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("gatehouse serve started (it ran until killed) instead of refusing:\n%s", out)
	}
	if err == nil {
		t.Fatalf("gatehouse serve exited 0:\n%s", out)
	}
	lines := 0
	found := false
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(l, "encryption key version") {
			lines++
			found = found || strings.Contains(l, wantLine)
		}
	}
	if !found || lines != 1 {
		t.Fatalf("want one line with %q, got:\n%s", wantLine, out)
	}
}

// TestLostEncryptionKeyIsLoud: with the generated secret.key gone (or
// replaced, or a backup restored without it) `gatehouse serve` refuses to
// start with one line naming key version 1, and never writes a new key over
// the sealed secrets; with the key back it starts and HMAC works.
func TestLostEncryptionKeyIsLoud(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	keyFile := filepath.Join(s.Dir, "secret.key")
	original, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("the first start generates secret.key: %v", err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if out, err := runCmd(t, "backup", "--out", backup, "--config", s.Config); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	s.Stop()

	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	serveRefuses(t, s.Config, "encryption key version 1 is missing")
	if _, err := os.Stat(keyFile); !os.IsNotExist(err) {
		t.Fatalf("a new secret.key was generated for a database with sealed secrets (%v)", err)
	}

	wrong := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + "\n"
	if err := os.WriteFile(keyFile, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	serveRefuses(t, s.Config, "encryption key version 1 is wrong")

	// A configured key of another version does not open version 1 either.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	cfgBytes, _ := os.ReadFile(s.Config)
	v2 := filepath.Join(t.TempDir(), "v2.toml")
	if err := os.WriteFile(v2, append(cfgBytes, []byte("\n[crypto]\nencryption_keys = { 2 = \""+strings.TrimSpace(wrong)+"\" }\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	serveRefuses(t, v2, "encryption key version 1 is missing")

	// A backup restored into a fresh directory without its secret.key.
	restored := startlessCopy(t, s, backup)
	serveRefuses(t, restored, "encryption key version 1 is missing")

	if err := os.WriteFile(keyFile, original, 0o600); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	resp, err := http.Get(s.Base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz with the key back: %d %s", resp.StatusCode, body)
	}
	if code := hmacStep1(t, s, w); code != 200 {
		t.Fatalf("HMAC step 1 with the key back: %d", code)
	}
}

// startlessCopy writes a config whose storage.dir holds only the backup file.
func startlessCopy(t *testing.T, s *Server, backup string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gatehouse.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "restored.toml")
	body := "[server]\nlisten = \"" + FreePort(t) + "\"\n\n[storage]\ndir = \"" + dir + "\"\n\n[admin]\nsocket = \"" + filepath.Join(dir, "admin.sock") + "\"\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// hmacStep1 runs a signed POST /sso/hmac/token and returns its status.
func hmacStep1(t *testing.T, s *Server, w World) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"tenantId": w.Tenant, "email": "lost-key@example.com", "role": "admin", "nonce": "lost-key-nonce-0123456789"})
	ts := time.Now().UTC().Format(time.RFC3339)
	req, _ := http.NewRequest(http.MethodPost, s.Base+"/sso/hmac/token", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Consumer-Key", w.ConsumerKey)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", hmacHex(w.ConsumerSecret, ts+"|"+w.ConsumerKey+"|"+string(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}
