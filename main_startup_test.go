package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeBadListenWritesNothing: a listen address that cannot work stops
// `gatehouse serve` with exit 1 and one line naming the key, before the data
// directory, secret.key, the database or the admin socket exist.
func TestServeBadListenWritesNothing(t *testing.T) {
	for _, tc := range []struct{ env, value string }{
		{"GATEHOUSE_SERVER__LISTEN", "127.0.0.1:80800"},
		{"GATEHOUSE_SERVER__LISTEN", "127.0.0.1"},
		{"GATEHOUSE_ADMIN__LISTEN", "127.0.0.1:-1"},
		{"GATEHOUSE_SERVER__METRICS_LISTEN", "bad host:9464"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			root := t.TempDir()
			t.Setenv("GATEHOUSE_STORAGE__DIR", filepath.Join(root, "data"))
			t.Setenv(tc.env, tc.value)
			code, out, errOut := runCapture("serve")
			key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(tc.env, "GATEHOUSE_"), "__", "."))
			if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, key) {
				t.Errorf("exit %d, stdout %q, stderr %q: want exit 1 and one line naming %s", code, out, errOut, key)
			}
			entries, err := os.ReadDir(root)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("a bad config wrote to disk: %v", entries)
			}
		})
	}
}

// TestServeBrokenTOMLNamesThePlace: a TOML syntax error names the file,
// line and column, and nothing is written.
func TestServeBrokenTOMLNamesThePlace(t *testing.T) {
	root := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "gatehouse.toml")
	body := "[storage]\ndir = \"" + filepath.Join(root, "data") + "\"\n[session]\nttl = 8h\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCapture("serve", "--config", cfg)
	if want := "config " + cfg + ":4:8: toml: "; code != 1 || !strings.Contains(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want exit 1 and one line with %q", code, errOut, want)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("a broken config wrote to disk: %v", entries)
	}
}
