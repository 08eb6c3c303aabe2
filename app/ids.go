package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ValidID reports whether s is a valid organization or tenant ID: 1–64 of A–Z a–z 0–9 _ -.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// randomBytes reads n bytes from r (crypto/rand in production).
func randomBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// newID returns prefix + 20 random hex characters (80 bits), e.g. "usr_1f…".
func newID(r io.Reader, prefix string) (string, error) {
	b, err := randomBytes(r, 10)
	if err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// newTimeID returns prefix + 16 hex characters of the creation time (Unix
// nanoseconds, big-endian) + 12 random hex characters (48 bits), e.g.
// "usr_187d…". Such IDs sort by creation time, so a new record's key lands at
// the end of its B+tree (and of the per-partner index under it) instead of
// splitting a random page: two random pages fewer per first sign-in. The
// time is no secret (created_at shows it); uniqueness needs the random part
// only within one nanosecond, and the store refuses a duplicate ID anyway.
func newTimeID(r io.Reader, prefix string, now time.Time) (string, error) {
	b := make([]byte, 14)
	binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
	if _, err := io.ReadFull(r, b[8:]); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// newSecret returns prefix + base64url of 32 random bytes (256 bits).
func newSecret(r io.Reader, prefix string) (string, error) {
	b, err := randomBytes(r, 32)
	if err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret is how bearer values (admin tokens, login tokens) are stored.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// defaultRandom is the production randomness source.
var defaultRandom io.Reader = rand.Reader

// NormalizeEmail trims surrounding spaces and lower-cases ASCII letters, then
// checks the shape SPEC §4.1 step 6 fixes. Non-ASCII is refused outright so
// look-alike characters can never merge two identities.
func NormalizeEmail(raw string) (string, bool) {
	s := strings.Trim(raw, " \t")
	if s == "" || len(s) > 254 || !isASCII(s) {
		return "", false
	}
	s = strings.ToLower(s)
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", false
	}
	if len(local) < 1 || len(local) > 64 {
		return "", false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' {
			return "", false
		}
	}
	if !ValidDomain(domain) {
		return "", false
	}
	return s, true
}

// ValidDomain reports whether d (lower-case) is a DNS host name of at least two
// labels; IDNA A-labels ("xn--…") must decode.
func ValidDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !utf8.ValidString(d) {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
		if strings.HasPrefix(l, "xn--") {
			if _, err := idna.Lookup.ToUnicode(l); err != nil {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.Trim(tld, "0123456789") != ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// emailDomain returns the part after '@' of a normalised email.
func emailDomain(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}
