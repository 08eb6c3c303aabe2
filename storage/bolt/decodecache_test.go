package bolt

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/storage"
)

// The decode cache may only ever save work: every read answers what the
// file holds now, a caller cannot corrupt it through what it was given, and
// it stays within its bound.
func TestDecodeCacheNeverStale(t *testing.T) {
	s, _ := openTemp(t, Options{})
	seed(t, s)
	ctx := t.Context()

	w := signInWrite("a@example.com", "s-1", "j-1", t0)
	u, err := s.SignIn(ctx, w)
	mustNil(t, err)
	for range 3 { // warm the caches
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSession(ctx, "s-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetPartner(ctx, "o1", "p1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTenant(ctx, "o1", "t1"); err != nil {
			t.Fatal(err)
		}
	}

	// A change is seen at once.
	again := signInWrite("a@example.com", "s-2", "j-2", t0.Add(time.Minute))
	again.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
		c := *cur
		c.Role, c.LastSignInAt = "readOnly", t0.Add(time.Minute)
		return c, nil
	}
	_, err = s.SignIn(ctx, again)
	mustNil(t, err)
	if got, err := s.GetUser(ctx, u.ID); err != nil || got.Role != "readOnly" {
		t.Errorf("user after a role change: %+v, %v", got, err)
	}
	if got, err := s.GetUserByEmail(ctx, "o1", "a@example.com"); err != nil || got.Role != "readOnly" {
		t.Errorf("user by email after a role change: %+v, %v", got, err)
	}
	_, err = s.UpdatePartner(ctx, "o1", "p1", func(p storage.Partner) (storage.Partner, error) {
		p.AllowedTenants = []string{"t1"}
		return p, nil
	})
	mustNil(t, err)
	p, err := s.GetPartner(ctx, "o1", "p1")
	if err != nil || len(p.AllowedTenants) != 1 {
		t.Fatalf("partner after a policy change: %+v, %v", p, err)
	}
	// Another organization never gets the cached partner.
	if _, err := s.GetPartner(ctx, "o2", "p1"); err == nil {
		t.Error("partner p1 of o1 found in o2")
	}

	// What a caller is handed is its own copy.
	p.AllowedTenants[0] = "mutated"
	if got, _ := s.GetPartner(ctx, "o1", "p1"); got.AllowedTenants[0] != "t1" {
		t.Errorf("a caller's change reached the cache: %v", got.AllowedTenants)
	}

	// A tenant's new redirect and return URLs are seen at once, and the
	// caller's copy is its own.
	_, err = s.UpdateTenant(ctx, "o1", "t1", func(tn storage.Tenant) (storage.Tenant, error) {
		tn.RedirectURL, tn.AllowedReturnURLs = "https://new.example/", []string{"https://new.example/"}
		return tn, nil
	})
	mustNil(t, err)
	tn, err := s.GetTenant(ctx, "o1", "t1")
	if err != nil || tn.RedirectURL != "https://new.example/" || len(tn.AllowedReturnURLs) != 1 {
		t.Fatalf("tenant after a change: %+v, %v", tn, err)
	}
	tn.AllowedReturnURLs[0] = "mutated"
	if got, _ := s.GetTenant(ctx, "o1", "t1"); got.AllowedReturnURLs[0] != "https://new.example/" {
		t.Errorf("a caller's change reached the tenant cache: %v", got.AllowedReturnURLs)
	}
	if _, err := s.GetTenant(ctx, "o2", "t1"); err == nil {
		t.Error("tenant t1 of o1 found in o2")
	}

	// Revocation is at once.
	mustNil(t, s.DeleteSession(ctx, "s-1"))
	if _, err := s.GetSession(ctx, "s-1"); err == nil {
		t.Error("deleted session still found")
	}
	mustNil(t, s.DeleteUser(ctx, u.ID))
	if _, err := s.GetUser(ctx, u.ID); err == nil {
		t.Error("deleted user still found")
	}
	if _, err := s.GetSession(ctx, "s-2"); err == nil {
		t.Error("session of a deleted user still found")
	}
}

func TestDecodeCacheBounded(t *testing.T) {
	c := newDecodeCache[string](4, nil)
	dec := func(raw []byte, v *string) error { *v = string(raw); return nil }
	for i := range 100 {
		k := []byte(fmt.Sprint("k", i))
		v, err := c.decode(k, []byte(fmt.Sprint("v", i)), dec)
		if err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("decode %d: %q, %v", i, v, err)
		}
		if len(c.m) > 4 {
			t.Fatalf("cache holds %d entries, bound 4", len(c.m))
		}
	}
	// The same key with other bytes decodes the new bytes.
	v, _ := c.decode([]byte("k99"), []byte("changed"), dec)
	if v != "changed" {
		t.Errorf("got %q for changed bytes", v)
	}
}

// GetSessionUser answers what GetSession and GetUser answer, in one read:
// a revoked session or a deleted user is gone at once.
func TestGetSessionUser(t *testing.T) {
	s, _ := openTemp(t, Options{})
	seed(t, s)
	ctx := t.Context()
	u, err := s.SignIn(ctx, signInWrite("a@example.com", "s-1", "j-1", t0))
	mustNil(t, err)
	_, err = s.SignIn(ctx, signInWrite("a@example.com", "s-2", "j-2", t0))
	mustNil(t, err)

	for range 2 { // cold, then through the decode caches
		sess, got, err := s.GetSessionUser(ctx, "s-1")
		if err != nil || sess.ID != "s-1" || sess.UserID != u.ID || got.ID != u.ID || got.Email != "a@example.com" {
			t.Fatalf("GetSessionUser: %+v, %+v, %v", sess, got, err)
		}
	}
	if _, _, err := s.GetSessionUser(ctx, "s-none"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	mustNil(t, s.DeleteSession(ctx, "s-1"))
	if sess, _, err := s.GetSessionUser(ctx, "s-1"); !errors.Is(err, storage.ErrNotFound) || sess.ID != "" {
		t.Errorf("revoked session: %+v, %v, want ErrNotFound", sess, err)
	}
	mustNil(t, s.DeleteUser(ctx, u.ID))
	if _, got, err := s.GetSessionUser(ctx, "s-2"); !errors.Is(err, storage.ErrNotFound) || got.ID != "" {
		t.Errorf("session of a deleted user: user %+v, %v, want ErrNotFound", got, err)
	}
}
