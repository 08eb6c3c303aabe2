package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"gatehouse/storage/memory"
)

// BenchmarkVerifyToken measures token verification alone: compact parsing,
// RS256 signature verification and the claim and time checks of SPEC §4.1
// steps 2–7, with no storage.
func BenchmarkVerifyToken(b *testing.B) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	token, err := SignToken(priv, "k1", NewTokenClaims("acme", "t1", "alice@example.com", "admin", "Alice", now, 5*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	keys := []verifierKey{{kid: "k1", partnerID: "p", pub: &priv.PublicKey}}
	cfg := Defaults()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			parts, e := parseCompactJWS(token)
			if e != nil {
				b.Fatal(e)
			}
			if _, e := unverifiedOrgID(parts.payload); e != nil {
				b.Fatal(e)
			}
			if _, e := verifySignature(parts, keys); e != nil {
				b.Fatal(e)
			}
			c, e := parseClaims(parts.payload)
			if e != nil {
				b.Fatal(e)
			}
			if e := checkTimes(c, now, cfg.SSO.ClockSkew, cfg.SSO.MaxTokenLifetime); e != nil {
				b.Fatal(e)
			}
		}
	})
	reportRate(b)
}

// BenchmarkAuthenticate measures session lookup as forward-auth does it, without HTTP.
func BenchmarkAuthenticate(b *testing.B) {
	store := memory.New()
	svc, _ := New(Options{Store: store, Config: Defaults()})
	ctx := context.Background()
	token, id, _ := svc.newSessionToken(time.Now())
	_ = id
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = svc.Authenticate(ctx, token)
		}
	})
}

func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
