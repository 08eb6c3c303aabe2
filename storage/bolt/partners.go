package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// CreatePartner stores a partner; ErrExists when its ID, its name within the
// organization or its consumer key is taken.
func (s *Store) CreatePartner(ctx context.Context, p storage.Partner) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktPartners)
		if b.Get([]byte(p.ID)) != nil {
			return storage.ErrExists
		}
		if err := checkPartnerIndexes(tx, p); err != nil {
			return err
		}
		if err := putPartnerIndexes(tx, nil, p); err != nil {
			return err
		}
		return putJSON(b, []byte(p.ID), p)
	})
	if err != nil {
		return fmt.Errorf("create partner %q: %w", p.Name, err)
	}
	return nil
}

// checkPartnerIndexes reports ErrExists when p's unique values belong to
// another partner.
func checkPartnerIndexes(tx *bbolt.Tx, p storage.Partner) error {
	if id := tx.Bucket(bktPartnerNames).Get(join(p.OrgID, p.Name)); id != nil && string(id) != p.ID {
		return fmt.Errorf("partner name %q: %w", p.Name, storage.ErrExists)
	}
	if p.ConsumerKey != "" {
		if id := tx.Bucket(bktPartnerCKs).Get([]byte(p.ConsumerKey)); id != nil && string(id) != p.ID {
			return fmt.Errorf("consumer key: %w", storage.ErrExists)
		}
	}
	return nil
}

// putPartnerIndexes moves the name and consumer key entries from old to p.
func putPartnerIndexes(tx *bbolt.Tx, old *storage.Partner, p storage.Partner) error {
	names, cks := tx.Bucket(bktPartnerNames), tx.Bucket(bktPartnerCKs)
	if old != nil && old.Name != p.Name {
		if err := names.Delete(join(old.OrgID, old.Name)); err != nil {
			return err
		}
	}
	if old == nil || old.Name != p.Name {
		if err := names.Put(join(p.OrgID, p.Name), []byte(p.ID)); err != nil {
			return err
		}
	}
	if old != nil && old.ConsumerKey != p.ConsumerKey && old.ConsumerKey != "" {
		if err := cks.Delete([]byte(old.ConsumerKey)); err != nil {
			return err
		}
	}
	if p.ConsumerKey != "" && (old == nil || old.ConsumerKey != p.ConsumerKey) {
		if err := cks.Put([]byte(p.ConsumerKey), []byte(p.ID)); err != nil {
			return err
		}
	}
	if old == nil || old.Active != p.Active {
		return tx.Bucket(bktPartnerActive).Put([]byte(p.ID), encPartnerActive(p.OrgID, p.Active))
	}
	return nil
}

// encPartnerActive is the partner_active index value: the organization, a
// NUL, and 1 or 0. Every sign-in write reads it, so it is kept tiny instead
// of decoding the partner (policies, sealed secrets) inside the group writer.
func encPartnerActive(orgID string, active bool) []byte {
	flag := byte('0')
	if active {
		flag = '1'
	}
	return append(join(orgID, ""), flag)
}

// getPartner reads a partner and checks it belongs to orgID, so one
// organization can never reach another's partner by ID.
func getPartner(tx *bbolt.Tx, orgID, id string) (storage.Partner, error) {
	var p storage.Partner
	if err := getJSON(tx.Bucket(bktPartners), []byte(id), &p); err != nil {
		return p, err
	}
	if p.OrgID != orgID {
		return storage.Partner{}, storage.ErrNotFound
	}
	return p, nil
}

// cachedPartner reads a partner (of any organization) through the decode
// cache: the sign-in paths read the same few partners on every request.
func (s *Store) cachedPartner(tx *bbolt.Tx, id []byte) (storage.Partner, error) {
	raw := tx.Bucket(bktPartners).Get(id)
	if raw == nil {
		return storage.Partner{}, storage.ErrNotFound
	}
	return s.partnerCache.decode(id, raw, decodeJSON[storage.Partner])
}

// partnerActive is the sign-in write's check, read from the partner_active
// index. A missing partner (or one of another organization) is not active.
func partnerActive(tx *bbolt.Tx, orgID, id string) bool {
	v := tx.Bucket(bktPartnerActive).Get([]byte(id))
	return v != nil && string(v) == string(encPartnerActive(orgID, true))
}

// GetPartner returns one partner of an organization.
func (s *Store) GetPartner(ctx context.Context, orgID, id string) (storage.Partner, error) {
	var p storage.Partner
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		p, err = s.cachedPartner(tx, []byte(id))
		if err == nil && p.OrgID != orgID {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.Partner{}, fmt.Errorf("get partner %q: %w", id, err)
	}
	return p, nil
}

// GetPartnerByConsumerKey finds the partner owning an HMAC consumer key.
func (s *Store) GetPartnerByConsumerKey(ctx context.Context, consumerKey string) (storage.Partner, error) {
	var p storage.Partner
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if consumerKey == "" {
			return storage.ErrNotFound
		}
		id := tx.Bucket(bktPartnerCKs).Get([]byte(consumerKey))
		if id == nil {
			return storage.ErrNotFound
		}
		var err error
		p, err = s.cachedPartner(tx, id)
		return err
	})
	if err != nil {
		return storage.Partner{}, fmt.Errorf("get partner by consumer key: %w", err)
	}
	return p, nil
}

// ListPartners returns an organization's partners ordered by name.
func (s *Store) ListPartners(ctx context.Context, orgID string) ([]storage.Partner, error) {
	var out []storage.Partner
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		partners := tx.Bucket(bktPartners)
		return scanPrefix(tx.Bucket(bktPartnerNames), prefix(orgID), func(_, id []byte) error {
			var p storage.Partner
			if err := getJSON(partners, id, &p); err != nil {
				return fmt.Errorf("partner %q: %w", id, err)
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	return out, nil
}

// UpdatePartner applies fn to a partner. ID and OrgID are its identity and
// are kept. Deactivation deletes the partner's sessions in the same
// transaction, so no session outlives the decision.
func (s *Store) UpdatePartner(ctx context.Context, orgID, id string, fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, error) {
	var out storage.Partner
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getPartner(tx, orgID, id)
		if err != nil {
			return err
		}
		// old is freshly decoded, so fn's copy shares nothing with the stored
		// bytes; only old's scalar fields are read afterwards.
		p, err := fn(old)
		if err != nil {
			return err
		}
		p.ID, p.OrgID = old.ID, old.OrgID
		if err := checkPartnerIndexes(tx, p); err != nil {
			return err
		}
		if err := putPartnerIndexes(tx, &old, p); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bktPartners), []byte(p.ID), p); err != nil {
			return err
		}
		if old.Active && !p.Active {
			if _, err := deletePartnerSessions(tx, p.ID); err != nil {
				return err
			}
		}
		out = p
		return nil
	})
	if err != nil {
		return storage.Partner{}, fmt.Errorf("update partner %q: %w", id, err)
	}
	return out, nil
}

// deletePartnerSessions removes every session the partner signed in. Sessions
// are keyed by time, not partner, so this scans them all; it only runs on
// deactivation and deletion, which are rare administrative acts.
func deletePartnerSessions(tx *bbolt.Tx, partnerID string) (int, error) {
	victims := sessionKeysWhere(tx, func(v []byte) bool { return sessionHas(v, "partner_id", partnerID) })
	sessions := bucket(tx, bktSessions)
	for _, k := range victims {
		if err := sessions.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(victims), nil
}

// DeletePartner removes a partner with its keys, index entries and the
// sessions it signed in. Users it created remain (they may be signed in by
// other partners).
func (s *Store) DeletePartner(ctx context.Context, orgID, id string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		p, err := getPartner(tx, orgID, id)
		if err != nil {
			return err
		}
		keys := tx.Bucket(bktKeys)
		var kids [][]byte
		err = scanPrefix(keys, prefix(orgID), func(k, v []byte) error {
			var key struct {
				PartnerID string `json:"partner_id"`
			}
			if err := json.Unmarshal(v, &key); err != nil {
				return fmt.Errorf("decode key: %w", err)
			}
			if key.PartnerID == id {
				kids = append(kids, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range kids {
			if err := deleteKey(tx, orgID, string(k[len(prefix(orgID)):])); err != nil {
				return err
			}
		}
		if _, err := deletePartnerSessions(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(bktPartnerNames).Delete(join(p.OrgID, p.Name)); err != nil {
			return err
		}
		if p.ConsumerKey != "" {
			if err := tx.Bucket(bktPartnerCKs).Delete([]byte(p.ConsumerKey)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bktPartnerActive).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bktPartners).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete partner %q: %w", id, err)
	}
	return nil
}

// CreateKey stores a partner's public key; ErrExists when the kid is taken
// in the organization, ErrNotFound when the partner is not in it.
func (s *Store) CreateKey(ctx context.Context, k storage.Key) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if _, err := getPartner(tx, k.OrgID, k.PartnerID); err != nil {
			return fmt.Errorf("partner %q: %w", k.PartnerID, err)
		}
		return putKey(tx, k)
	})
	if err != nil {
		return fmt.Errorf("create key %q: %w", k.Kid, err)
	}
	return nil
}

// GetKey returns one key of an organization.
func (s *Store) GetKey(ctx context.Context, orgID, kid string) (storage.Key, error) {
	var k storage.Key
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bktKeys), join(orgID, kid), &k)
	})
	if err != nil {
		return storage.Key{}, fmt.Errorf("get key %q: %w", kid, err)
	}
	return k, nil
}

// ListKeys returns an organization's keys ordered by kid, optionally only
// those of one partner.
func (s *Store) ListKeys(ctx context.Context, orgID, partnerID string) ([]storage.Key, error) {
	var out []storage.Key
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return scanPrefix(tx.Bucket(bktKeys), prefix(orgID), func(_, v []byte) error {
			var k storage.Key
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("decode key: %w", err)
			}
			if partnerID == "" || k.PartnerID == partnerID {
				out = append(out, k)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// DeleteKey removes one key of an organization.
func (s *Store) DeleteKey(ctx context.Context, orgID, kid string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		return deleteKey(tx, orgID, kid)
	})
	if err != nil {
		return fmt.Errorf("delete key %q: %w", kid, err)
	}
	return nil
}

// SyncJWKSKeys replaces the partner's JWKS keys and applies fn in one
// transaction, so a refresh never leaves a half-replaced set behind.
func (s *Store) SyncJWKSKeys(ctx context.Context, orgID, partnerID string, keys []storage.Key, fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, []storage.Key, error) {
	var outP storage.Partner
	var outK []storage.Key
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		outK = nil
		old, err := getPartner(tx, orgID, partnerID)
		if err != nil {
			return err
		}
		p, err := fn(old)
		if err != nil {
			return err
		}
		p.ID, p.OrgID = old.ID, old.OrgID
		if err := checkPartnerIndexes(tx, p); err != nil {
			return err
		}
		b := tx.Bucket(bktKeys)
		previous := map[string]storage.Key{}
		var stale [][]byte
		taken := map[string]bool{} // fingerprints held by keys that stay
		err = scanPrefix(b, prefix(orgID), func(k, v []byte) error {
			var key storage.Key
			if err := json.Unmarshal(v, &key); err != nil {
				return fmt.Errorf("decode key: %w", err)
			}
			if key.PartnerID == partnerID && key.Source == storage.KeySourceJWKS {
				previous[key.Kid] = key
				stale = append(stale, append([]byte(nil), k...))
			} else {
				taken[key.Fingerprint] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := deleteKey(tx, orgID, string(k[len(prefix(orgID)):])); err != nil {
				return err
			}
		}
		for _, k := range keys {
			k.OrgID, k.PartnerID, k.Source = orgID, partnerID, storage.KeySourceJWKS
			id := join(orgID, k.Kid)
			if b.Get(id) != nil || taken[k.Fingerprint] {
				continue
			}
			if prev, ok := previous[k.Kid]; ok && bytes.Equal(prev.DER, k.DER) {
				k.CreatedAt, k.LastUsedAt = prev.CreatedAt, prev.LastUsedAt
			}
			if err := putKey(tx, k); errors.Is(err, storage.ErrExists) {
				continue // the fingerprint index knows a key the scan did not (an old duplicate)
			} else if err != nil {
				return err
			}
			taken[k.Fingerprint] = true
			outK = append(outK, k)
		}
		if err := putPartnerIndexes(tx, &old, p); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bktPartners), []byte(p.ID), p); err != nil {
			return err
		}
		if old.Active && !p.Active {
			if _, err := deletePartnerSessions(tx, p.ID); err != nil {
				return err
			}
		}
		outP = p
		return nil
	})
	if err != nil {
		return storage.Partner{}, nil, fmt.Errorf("sync jwks keys of partner %q: %w", partnerID, err)
	}
	return outP, outK, nil
}
