package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// sweepChunk bounds deletions per write transaction: the sweep runs beside
// live sign-ins and must not hold the writer lock for a long scan.
const sweepChunk = 5000

// Sweep deletes sessions, replay markers and
// login tokens expired at now. Expired entries are found in a read
// transaction, then deleted in bounded write transactions that re-check each
// entry, because a replay key may have been recorded again in between.
func (s *Store) Sweep(ctx context.Context, now time.Time) (storage.SweepResult, error) {
	var res storage.SweepResult
	var sessKeys, replayKeys, tokenKeys [][]byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		// Session values start with their expiry, so sessions need no decoding.
		sessKeys = sessionKeysWhere(tx, func(v []byte) bool { return !sessionLive(v, now) })
		err := tx.Bucket(bktReplays).ForEach(func(k, v []byte) error {
			if !liveAt(v, now) {
				replayKeys = append(replayKeys, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bktLoginTokens).ForEach(func(k, v []byte) error {
			var t struct {
				ExpiresAt time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode login token: %w", err)
			}
			if !t.ExpiresAt.After(now) {
				tokenKeys = append(tokenKeys, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}

	// Expiries of sessions and tokens never change, so only replays need the
	// re-check; the existence check keeps counts exact if something else
	// deleted an entry meanwhile.
	sweep := func(keys [][]byte, del func(tx *bbolt.Tx, k []byte) (bool, error)) (int, error) {
		n := 0
		for len(keys) > 0 {
			chunk := keys[:min(sweepChunk, len(keys))]
			keys = keys[len(chunk):]
			m := 0
			err := s.update(ctx, func(tx *bbolt.Tx) error {
				m = 0
				for _, k := range chunk {
					ok, err := del(tx, k)
					if err != nil {
						return err
					}
					if ok {
						m++
					}
				}
				return nil
			})
			if err != nil {
				return n, err
			}
			n += m
		}
		return n, nil
	}

	res.Sessions, err = sweep(sessKeys, func(tx *bbolt.Tx, k []byte) (bool, error) {
		b := bucket(tx, bktSessions)
		v := b.Get(k)
		if v == nil || sessionLive(v, now) {
			return false, nil
		}
		return true, b.Delete(k)
	})
	if err != nil {
		return res, fmt.Errorf("sweep sessions: %w", err)
	}
	res.Replays, err = sweep(replayKeys, func(tx *bbolt.Tx, k []byte) (bool, error) {
		b := tx.Bucket(bktReplays)
		v := b.Get(k)
		if v == nil || liveAt(v, now) {
			return false, nil
		}
		return true, b.Delete(k)
	})
	if err != nil {
		return res, fmt.Errorf("sweep replays: %w", err)
	}
	res.LoginTokens, err = sweep(tokenKeys, func(tx *bbolt.Tx, k []byte) (bool, error) {
		b := tx.Bucket(bktLoginTokens)
		if b.Get(k) == nil {
			return false, nil
		}
		return true, b.Delete(k)
	})
	if err != nil {
		return res, fmt.Errorf("sweep login tokens: %w", err)
	}
	if res != (storage.SweepResult{}) {
		s.log.Debug("swept expired records", "sessions", res.Sessions, "replays", res.Replays, "login_tokens", res.LoginTokens)
	}
	return res, nil
}
