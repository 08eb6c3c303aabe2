package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// publishedKids is GET /.well-known/jwks.json, the kids in order.
func publishedKids(t *testing.T, s *Server) []string {
	t.Helper()
	resp, err := http.Get(s.Base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("jwks: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("a private key is published")
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestSigningKeyRotateCommand: the key is made once and kept in the
// database across restarts; `gatehouse signing-key rotate` goes through the
// socket while the server runs and opens the database when none does.
func TestSigningKeyRotateCommand(t *testing.T) {
	s := Start(t, "")
	first := publishedKids(t, s)
	if len(first) != 1 {
		t.Fatalf("kids %v", first)
	}
	viaSocket := Run(t, "signing-key", "rotate", "--config", s.Config)
	if got := publishedKids(t, s); len(got) != 2 || got[0] != viaSocket || got[1] != first[0] {
		t.Fatalf("after a rotation through the socket: %v (printed %q)", got, viaSocket)
	}
	s.Stop()
	onDisk := Run(t, "signing-key", "rotate", "--config", s.Config)
	if onDisk == viaSocket || onDisk == "" {
		t.Fatalf("rotation on the database printed %q", onDisk)
	}
	s.StartProcess()
	if got := publishedKids(t, s); len(got) != 2 || got[0] != onDisk || got[1] != viaSocket {
		t.Fatalf("after a rotation on the database and a restart: %v", got)
	}
	s.Stop()
	s.StartProcess()
	if got := publishedKids(t, s); got[0] != onDisk {
		t.Fatalf("a restart changed the key: %v", got)
	}
}
