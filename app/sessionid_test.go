package app

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

// A cookie maps back to the stored id it was issued with, and nothing that
// is not such a cookie maps to any id.
func TestSessionIDRoundTrip(t *testing.T) {
	s := &Service{rand: rand.Reader}
	for range 50 {
		token, id, err := s.newSessionToken(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got, ok := SessionID(token)
		if !ok || got != id {
			t.Fatalf("SessionID(%q) = %q, %v; issued as %q", token, got, ok, id)
		}
		if len(id) != 80 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("stored id %q: want 80 lowercase hex digits", id)
		}
	}
	token, _, _ := s.newSessionToken(time.Now())
	for _, bad := range []string{"", token[:53], token + "A", token[:53] + "=", token[:53] + "+", token[:53] + "/", strings.Repeat("!", 54)} {
		if id, ok := SessionID(bad); ok || id != "" {
			t.Errorf("SessionID(%q) = %q, %v; want no id", bad, id, ok)
		}
	}
}
