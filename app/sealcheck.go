package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"gatehouse/storage"
)

// sealedItem is one value the database holds sealed, with the additional
// data it was sealed with.
type sealedItem struct {
	what   string
	sealed *storage.Sealed
	aad    []byte
}

// sealedItems lists every sealed value of the database: partner secrets
// (current and previous) and the assertion signing state.
func sealedItems(ctx context.Context, store storage.Store) ([]sealedItem, error) {
	var items []sealedItem
	orgs, err := store.ListOrgs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	for _, o := range orgs {
		ps, err := store.ListPartners(ctx, o.ID)
		if err != nil {
			return nil, fmt.Errorf("list partners of %s: %w", o.ID, err)
		}
		for _, p := range ps {
			if p.Secret != nil {
				items = append(items, sealedItem{"the secret of partner " + p.ID, p.Secret, []byte(p.ID)})
			}
			if p.PreviousSecret != nil {
				items = append(items, sealedItem{"the previous secret of partner " + p.ID, p.PreviousSecret, []byte(p.ID)})
			}
		}
	}
	sk, err := store.GetSigningKeys(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read the assertion signing keys: %w", err)
	default:
		if sk.Current.Private != nil {
			items = append(items, sealedItem{"the assertion signing key " + sk.Current.Kid, sk.Current.Private, signingKeyAAD(sk.Current.Kid)})
		}
		if sk.Previous != nil && sk.Previous.Private != nil {
			items = append(items, sealedItem{"the assertion signing key " + sk.Previous.Kid, sk.Previous.Private, signingKeyAAD(sk.Previous.Kid)})
		}
		if sk.SIDSecret != nil {
			items = append(items, sealedItem{"the assertion sid secret", sk.SIDSecret, []byte(sidSecretAAD)})
		}
	}
	return items, nil
}

// ErrSealedKeyMissing is wrapped by every refusal of OpenKeyRing and
// CheckSealed: the database holds secrets no configured key opens.
var ErrSealedKeyMissing = errors.New("encryption key missing")

// SealedKeyError names the key version that does not open the database's
// sealed secrets. Public says so without naming partners, for /readyz.
type SealedKeyError struct {
	Version int
	Wrong   bool // the version is configured but is another key
	line    string
}

func (e *SealedKeyError) Error() string { return e.line }
func (e *SealedKeyError) Unwrap() error { return ErrSealedKeyMissing }

// Public is the one line an unauthenticated probe may see.
func (e *SealedKeyError) Public() string {
	if e.Wrong {
		return fmt.Sprintf("encryption key version %d is not the key the database's secrets were sealed with", e.Version)
	}
	return fmt.Sprintf("encryption key version %d is missing", e.Version)
}

// CheckSealed opens every sealed value of the database with the ring and
// names, in one line, the first key version that is missing or wrong.
func CheckSealed(ctx context.Context, store storage.Store, ring *KeyRing) error {
	items, err := sealedItems(ctx, store)
	if err != nil {
		return err
	}
	return checkItems(items, ring)
}

func checkItems(items []sealedItem, ring *KeyRing) error {
	have := map[int]bool{}
	for _, v := range ring.Versions() {
		have[v] = true
	}
	missing := map[int]string{}
	for _, it := range items {
		if !have[it.sealed.Version] {
			if _, seen := missing[it.sealed.Version]; !seen {
				missing[it.sealed.Version] = it.what
			}
			continue
		}
		if _, err := ring.Open(it.sealed, it.aad); err != nil {
			return &SealedKeyError{Version: it.sealed.Version, Wrong: true, line: fmt.Sprintf("encryption key version %d is wrong: it does not open %s, so it is not the key that sealed it (restore the right [crypto] encryption_keys entry or secret.key)",
				it.sealed.Version, it.what)}
		}
	}
	if len(missing) > 0 {
		versions := make([]int, 0, len(missing))
		for v := range missing {
			versions = append(versions, v)
		}
		sort.Ints(versions)
		v := versions[0]
		return &SealedKeyError{Version: v, line: fmt.Sprintf("encryption key version %d is missing: %s (and %d more sealed value(s)) cannot be opened; configure that version in [crypto] encryption_keys (configured: %v)",
			v, missing[v], countVersion(items, v)-1, ring.Versions())}
	}
	return nil
}

func countVersion(items []sealedItem, v int) int {
	n := 0
	for _, it := range items {
		if it.sealed.Version == v {
			n++
		}
	}
	return n
}

// OpenKeyRing builds the ring that opens the database's sealed secrets:
// the configured keys, else <dir>/secret.key. A key file is generated only
// for a database that holds nothing sealed yet; a database with sealed
// secrets and no key (a backup restored without its secret.key, say) is
// refused, never given a new key that would orphan every secret. Whatever
// key is found must open every sealed value, or start-up stops with one line
// naming the version.
func OpenKeyRing(ctx context.Context, store storage.Store, configured map[int][]byte, dir string, log *slog.Logger) (*KeyRing, error) {
	items, err := sealedItems(ctx, store)
	if err != nil {
		return nil, err
	}
	keys := configured
	if len(keys) == 0 {
		path := filepath.Join(dir, "secret.key")
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) && len(items) > 0 {
			return nil, &SealedKeyError{Version: items[0].sealed.Version, line: fmt.Sprintf("encryption key version %d is missing: the database holds %d sealed secret(s), but [crypto] encryption_keys is empty and %s does not exist; restore secret.key from the backup (or configure the key) — a new key is never generated for sealed secrets",
				items[0].sealed.Version, len(items), path)}
		}
		if keys, err = LoadOrCreateKeyFile(nil, dir, log); err != nil {
			return nil, err
		}
	}
	ring, err := NewKeyRing(keys, nil)
	if err != nil {
		return nil, err
	}
	if err := checkItems(items, ring); err != nil {
		return nil, err
	}
	return ring, nil
}
