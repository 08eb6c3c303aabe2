package app

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"gatehouse/storage"
)

// signingRefresh is how long an instance trusts its copy of the signing
// state before reading it again: a rotation made by another instance is
// picked up within this, well inside the overlap (assertion_ttl +
// clock_skew) during which the replaced key stays published.
const signingRefresh = 10 * time.Second

// sidSecretAAD and signingKeyAAD bind sealed values to their purpose, so a
// sealed value copied onto another record does not open.
const sidSecretAAD = "assertion-sid-secret"

func signingKeyAAD(kid string) []byte { return []byte("assertion-signing-key:" + kid) }

// signingState is the opened signing state an instance signs and publishes with.
type signingState struct {
	keys   storage.SigningKeys // as stored (sealed), to tell whether a reload changed anything
	kid    string
	signer jose.Signer
	sidKey []byte
	// current and previous are the public JWKs, rendered once.
	current, previous json.RawMessage
	loaded            time.Time
}

// signingCache holds the state; mu serialises reloads (readers never wait on it).
type signingCache struct {
	mu    sync.Mutex
	state atomic.Pointer[signingState]
}

// signing returns the signing state, creating the key on first use and
// reading the store again after signingRefresh.
func (s *Service) signing(ctx context.Context) (*signingState, error) {
	now := s.now()
	if st := s.sign.state.Load(); st != nil && now.Sub(st.loaded) < signingRefresh && !now.Before(st.loaded) {
		return st, nil
	}
	s.sign.mu.Lock()
	defer s.sign.mu.Unlock()
	st := s.sign.state.Load()
	if st != nil && now.Sub(st.loaded) < signingRefresh && !now.Before(st.loaded) {
		return st, nil
	}
	keys, err := s.store.GetSigningKeys(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		keys, err = s.createSigningKeys(ctx)
	}
	if err != nil {
		if st != nil {
			// The key in hand is still valid; serve with it and retry later.
			s.log.Error("reading the assertion signing key failed; using the one loaded before", "err", err)
			return st, nil
		}
		return nil, err
	}
	next, err := s.openSigningState(keys, st)
	if err != nil {
		return nil, err
	}
	next.loaded = now
	s.sign.state.Store(next)
	return next, nil
}

// InitSigningKey makes (or loads) the assertion signing key at start-up, so
// a missing encryption key shows at once rather than on the first /auth/verify.
func (s *Service) InitSigningKey(ctx context.Context) error {
	_, err := s.signing(ctx)
	return err
}

// createSigningKeys stores the first key and the sid secret. Instances
// racing on a fresh database serialise in UpdateSigningKeys: the first
// writes, the others keep what it wrote.
func (s *Service) createSigningKeys(ctx context.Context) (storage.SigningKeys, error) {
	if s.ring == nil {
		return storage.SigningKeys{}, errors.New("assertion signing key: no encryption key ring to seal it with")
	}
	key, err := s.newSigningKey()
	if err != nil {
		return storage.SigningKeys{}, err
	}
	secret, err := randomBytes(rand.Reader, 32)
	if err != nil {
		return storage.SigningKeys{}, err
	}
	sealedSecret, err := s.ring.Seal(secret, []byte(sidSecretAAD))
	if err != nil {
		return storage.SigningKeys{}, err
	}
	created := false
	keys, err := s.store.UpdateSigningKeys(ctx, func(cur *storage.SigningKeys) (storage.SigningKeys, error) {
		if cur != nil {
			return *cur, nil
		}
		created = true
		return storage.SigningKeys{Current: key, SIDSecret: sealedSecret}, nil
	})
	if err == nil && created {
		s.log.Info("generated the assertion signing key", "kid", key.Kid)
	}
	return keys, err
}

// newSigningKey generates an ECDSA P-256 key, kid = its RFC 7638 thumbprint.
func (s *Service) newSigningKey() (storage.SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return storage.SigningKey{}, err
	}
	tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return storage.SigningKey{}, err
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return storage.SigningKey{}, err
	}
	sealed, err := s.ring.Seal(der, signingKeyAAD(kid))
	if err != nil {
		return storage.SigningKey{}, err
	}
	return storage.SigningKey{Kid: kid, Private: sealed, Public: pub, CreatedAt: s.now()}, nil
}

// openSigningState opens the sealed key and secret, reusing prev when the
// stored state did not change.
func (s *Service) openSigningState(keys storage.SigningKeys, prev *signingState) (*signingState, error) {
	if prev != nil && sameSigningKeys(prev.keys, keys) {
		c := *prev
		return &c, nil
	}
	if s.ring == nil {
		return nil, errors.New("assertion signing key: no encryption key ring to open it with")
	}
	der, err := s.ring.Open(keys.Current.Private, signingKeyAAD(keys.Current.Kid))
	if err != nil {
		return nil, fmt.Errorf("assertion signing key %s: %w", keys.Current.Kid, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("assertion signing key %s: %w", keys.Current.Kid, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("assertion signing key %s: not an ECDSA P-256 key", keys.Current.Kid)
	}
	sidKey, err := s.ring.Open(keys.SIDSecret, []byte(sidSecretAAD))
	if err != nil {
		return nil, fmt.Errorf("assertion sid secret: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), keys.Current.Kid))
	if err != nil {
		return nil, err
	}
	st := &signingState{keys: keys, kid: keys.Current.Kid, signer: signer, sidKey: sidKey}
	if st.current, err = publicJWK(keys.Current); err != nil {
		return nil, err
	}
	if keys.Previous != nil {
		if st.previous, err = publicJWK(*keys.Previous); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func sameSigningKeys(a, b storage.SigningKeys) bool {
	prevKid := func(k storage.SigningKeys) string {
		if k.Previous == nil {
			return ""
		}
		return k.Previous.Kid
	}
	return a.Current.Kid == b.Current.Kid && prevKid(a) == prevKid(b) && a.RotatedAt.Equal(b.RotatedAt) &&
		(a.Current.Private == nil) == (b.Current.Private == nil) &&
		(a.Current.Private == nil || a.Current.Private.Version == b.Current.Private.Version)
}

// publicJWK renders the public half as {kty, crv, x, y, kid, use, alg}.
func publicJWK(k storage.SigningKey) (json.RawMessage, error) {
	pub, err := x509.ParsePKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.Kid, err)
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("signing key %s: not an ECDSA key", k.Kid)
	}
	return json.Marshal(jose.JSONWebKey{Key: pub, KeyID: k.Kid, Use: "sig", Algorithm: string(jose.ES256)})
}

// JWKS is GET /.well-known/jwks.json: the current key and, for
// assertion_ttl + clock_skew after a rotation, the one it replaced. It is
// served whether or not assertions are on.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	st, err := s.signing(ctx)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"keys":[`), st.current...)
	if st.previous != nil && s.now().Before(st.keys.RotatedAt.Add(s.overlap())) {
		out = append(append(out, ','), st.previous...)
	}
	return append(out, "]}"...), nil
}

// overlap is how long a replaced key stays published: every assertion it
// signed has expired by then, even on a clock clock_skew behind.
func (s *Service) overlap() time.Duration {
	return s.cfg.Session.AssertionTTL + s.cfg.SSO.ClockSkew
}

// SigningKeyRotation is the answer of a rotation.
type SigningKeyRotation struct {
	Kid         string `json:"kid"`
	PreviousKid string `json:"previous_kid"`
}

// RotateSigningKey replaces the assertion signing key (operator only). The
// replaced key stays published for assertion_ttl + clock_skew; a key it had
// replaced itself drops out at once (only one previous key is kept).
func (s *Service) RotateSigningKey(ctx context.Context, actor Actor) (SigningKeyRotation, error) {
	if !actor.fullRights() {
		return SigningKeyRotation{}, Errorf(CodeForbidden, "rotating the signing key is an operator operation")
	}
	if _, err := s.signing(ctx); err != nil { // makes the first key if there is none
		return SigningKeyRotation{}, err
	}
	key, err := s.newSigningKey()
	if err != nil {
		return SigningKeyRotation{}, err
	}
	now := s.now()
	var out SigningKeyRotation
	_, err = s.store.UpdateSigningKeys(ctx, func(cur *storage.SigningKeys) (storage.SigningKeys, error) {
		if cur == nil {
			return storage.SigningKeys{}, errors.New("signing keys vanished during rotation")
		}
		prev := cur.Current
		out = SigningKeyRotation{Kid: key.Kid, PreviousKid: prev.Kid}
		cur.Previous, cur.Current, cur.RotatedAt = &prev, key, now
		return *cur, nil
	})
	if err != nil {
		return SigningKeyRotation{}, err
	}
	s.sign.state.Store(nil) // the next use loads the new key
	s.auditAdmin(ctx, actor, "signing_key.rotate", "", out.Kid, map[string]any{"kid": out.Kid, "previous_kid": out.PreviousKid})
	return out, nil
}

// resealSigningKeys re-seals the signing keys and the sid secret under the
// newest encryption key (part of `gatehouse rekey`), so an old key version
// can be retired. It reports whether anything was re-sealed.
func (s *Service) resealSigningKeys(ctx context.Context) (bool, error) {
	changed := false
	_, err := s.store.UpdateSigningKeys(ctx, func(cur *storage.SigningKeys) (storage.SigningKeys, error) {
		if cur == nil {
			return storage.SigningKeys{}, errUnchanged
		}
		reseal := func(slot **storage.Sealed, aad []byte) error {
			if *slot == nil || (*slot).Version == s.ring.Newest() {
				return nil
			}
			plain, err := s.ring.Open(*slot, aad)
			if err != nil {
				return err
			}
			if *slot, err = s.ring.Seal(plain, aad); err != nil {
				return err
			}
			changed = true
			return nil
		}
		if err := reseal(&cur.Current.Private, signingKeyAAD(cur.Current.Kid)); err != nil {
			return *cur, err
		}
		if cur.Previous != nil {
			if err := reseal(&cur.Previous.Private, signingKeyAAD(cur.Previous.Kid)); err != nil {
				return *cur, err
			}
		}
		if err := reseal(&cur.SIDSecret, []byte(sidSecretAAD)); err != nil {
			return *cur, err
		}
		if !changed {
			return *cur, errUnchanged
		}
		return *cur, nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	if err == nil {
		s.sign.state.Store(nil)
	}
	return changed, err
}
