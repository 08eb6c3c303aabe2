package app

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"gatehouse/storage"
)

// KeyRing seals partner secrets with AES-256-GCM. The highest version seals;
// every version opens, so keys can be rotated (add a version, `gatehouse
// rekey`, then retire the old one).
type KeyRing struct {
	aeads  map[int]cipher.AEAD
	newest int
	rand   io.Reader
}

// NewKeyRing builds a ring from version → 32-byte key.
func NewKeyRing(keys map[int][]byte, random io.Reader) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("key ring: no encryption keys")
	}
	if random == nil {
		random = defaultRandom
	}
	r := &KeyRing{aeads: map[int]cipher.AEAD{}, rand: random}
	for v, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("crypto.encryption_keys.%d: must be 32 bytes", v)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("crypto.encryption_keys.%d: %w", v, err)
		}
		r.aeads[v] = aead
		if v > r.newest {
			r.newest = v
		}
	}
	return r, nil
}

// Versions lists the ring's versions, ascending.
func (r *KeyRing) Versions() []int {
	out := make([]int, 0, len(r.aeads))
	for v := range r.aeads {
		out = append(out, v)
	}
	sort.Ints(out)
	return out
}

// Newest is the version that seals.
func (r *KeyRing) Newest() int { return r.newest }

// Seal encrypts plaintext under the newest key, binding aad (the partner id)
// so a sealed value copied onto another record does not open.
func (r *KeyRing) Seal(plaintext, aad []byte) (*storage.Sealed, error) {
	aead := r.aeads[r.newest]
	nonce, err := randomBytes(r.rand, aead.NonceSize())
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &storage.Sealed{Version: r.newest, Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, plaintext, aad)}, nil
}

// Open decrypts a sealed value with the key version it names.
func (r *KeyRing) Open(s *storage.Sealed, aad []byte) ([]byte, error) {
	if s == nil {
		return nil, errors.New("open: nothing sealed")
	}
	aead, ok := r.aeads[s.Version]
	if !ok {
		return nil, fmt.Errorf("open: encryption key version %d is not configured", s.Version)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, errors.New("open: malformed sealed value")
	}
	pt, err := aead.Open(nil, s.Nonce, s.Ciphertext, aad)
	if err != nil {
		return nil, errors.New("open: authentication failed (wrong key or the value was moved or altered)")
	}
	return pt, nil
}

// SelfTest seals and opens a probe value under every version, for /readyz.
func (r *KeyRing) SelfTest() error {
	probe := []byte("gatehouse key ring probe")
	for v, aead := range r.aeads {
		nonce := make([]byte, aead.NonceSize())
		ct := aead.Seal(nil, nonce, probe, []byte("probe"))
		if _, err := aead.Open(nil, nonce, ct, []byte("probe")); err != nil {
			return fmt.Errorf("encryption key version %d: %w", v, err)
		}
	}
	return nil
}

// LoadOrCreateKeyFile returns the configured keys, or — when none are
// configured — the key in <dir>/secret.key, generating it (0600) on first
// start. The warning matters: losing that file loses every partner secret.
func LoadOrCreateKeyFile(configured map[int][]byte, dir string, log *slog.Logger) (map[int][]byte, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	path := filepath.Join(dir, "secret.key")
	data, err := os.ReadFile(path)
	if err == nil {
		k, derr := DecodeEncryptionKey(string(data))
		if derr != nil {
			return nil, fmt.Errorf("encryption key file %s: %v (it must hold the base64url key generated on first start: restore it from the backup, or configure [crypto] encryption_keys)", path, derr)
		}
		return map[int][]byte{1: k}, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return nil, fmt.Errorf("encryption key file %s: cannot read it: %w", path, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	k, err := randomBytes(defaultRandom, 32)
	if err != nil {
		return nil, err
	}
	if err := writeNew(path, []byte(base64.RawURLEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	if log != nil {
		log.Warn("generated a new encryption key for partner secrets; back it up with the database, or move it into [crypto] encryption_keys",
			"path", path)
	}
	return map[int][]byte{1: k}, nil
}
