package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/storage/memory"
)

func sealTestService(t *testing.T, store *memory.Store, keys map[int][]byte) *Service {
	t.Helper()
	ring, err := NewKeyRing(keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	svc, err := New(Options{Store: store, Config: Defaults(), KeyRing: ring, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestOpenKeyRingRefusesLostKeys: a database with sealed secrets is never
// given a generated key, and a key that does not open them is named by
// version; a database with nothing sealed gets secret.key once.
func TestOpenKeyRingRefusesLostKeys(t *testing.T) {
	ctx := context.Background()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)

	empty := memory.New()
	dir := t.TempDir()
	ring, err := OpenKeyRing(ctx, empty, nil, dir, nil)
	if err != nil || ring.Newest() != 1 {
		t.Fatalf("empty database: %v", err)
	}
	first, err := os.ReadFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenKeyRing(ctx, empty, nil, dir, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "secret.key")); !bytes.Equal(first, again) {
		t.Fatal("secret.key was replaced")
	}

	store := memory.New()
	svc := sealTestService(t, store, map[int][]byte{1: k1})
	if _, err := svc.CreateOrg(ctx, Operator, OrgInput{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePartner(ctx, Operator, "acme", PartnerInput{Name: "Portal"}); err != nil {
		t.Fatal(err)
	}
	noKeyDir := t.TempDir()
	cases := []struct {
		name       string
		configured map[int][]byte
		want       string
	}{
		{"no key at all", nil, "encryption key version 1 is missing"},
		{"another version only", map[int][]byte{2: k2}, "encryption key version 1 is missing"},
		{"version 1 is another key", map[int][]byte{1: k2}, "encryption key version 1 is wrong"},
	}
	for _, c := range cases {
		_, err := OpenKeyRing(ctx, store, c.configured, noKeyDir, nil)
		var sk *SealedKeyError
		if !errors.As(err, &sk) || sk.Version != 1 || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(noKeyDir, "secret.key")); !os.IsNotExist(err) {
		t.Fatalf("a key was generated for sealed secrets: %v", err)
	}
	if _, err := OpenKeyRing(ctx, store, map[int][]byte{1: k1, 2: k2}, noKeyDir, nil); err != nil {
		t.Fatalf("the right key plus a newer one: %v", err)
	}
}

// TestReadyReportsASecretThatDoesNotOpen: an instance whose ring lacks the
// version another instance sealed a partner secret with says so on /readyz
// after the first failed open, and recovers once that partner is gone.
func TestReadyReportsASecretThatDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	store := memory.New()
	newer := sealTestService(t, store, map[int][]byte{1: k1, 2: k2})
	older := sealTestService(t, store, map[int][]byte{1: k1})
	if _, err := newer.CreateOrg(ctx, Operator, OrgInput{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	p, err := newer.CreatePartner(ctx, Operator, "acme", PartnerInput{Name: "Portal"})
	if err != nil {
		t.Fatal(err)
	}
	if err := older.Ready(ctx); err != nil {
		t.Fatalf("ready before any failure: %v", err)
	}
	ts := older.now().UTC().Format(time.RFC3339)
	body := []byte(`{"tenantId":"t1","email":"a@example.com","role":"admin","nonce":"0123456789abcdef"}`)
	_, err = older.IssueHMACLoginToken(ctx, HMACTokenRequest{ConsumerKey: p.ConsumerKey, Timestamp: ts,
		Signature: SignHMAC(p.ConsumerSecret, ts, p.ConsumerKey, body), Body: body})
	if ErrorCode(err) != CodeInvalidPartnerSignature {
		t.Fatalf("step 1 on the instance without key 2: %v", err)
	}
	err = older.Ready(ctx)
	var sk *SealedKeyError
	if !errors.As(err, &sk) || sk.Version != 2 || sk.Public() != "encryption key version 2 is missing" {
		t.Fatalf("ready after the failed open: %v", err)
	}
	if err := newer.DeletePartner(ctx, Operator, "acme", p.ID); err != nil {
		t.Fatal(err)
	}
	if err := older.Ready(ctx); err != nil {
		t.Fatalf("ready once nothing sealed under version 2 is left: %v", err)
	}
}
