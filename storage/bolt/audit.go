package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// preparedAudit is an audit event marshalled outside the group writer with
// Seq 0 and empty chain hashes. Seq is the record's first JSON member and
// PrevHash, Hash its last two, so the writer fills them in by splicing bytes
// instead of marshalling the event again while every other writer waits.
type preparedAudit struct {
	event storage.AuditEvent
	body  []byte // the JSON between `{"seq":0` and `"prev_hash":"","hash":""}`
}

const (
	auditHead = `{"seq":0`
	auditTail = `"prev_hash":"","hash":""}`
)

// prepareAudit canonicalises the details (HashEvent's form) and marshals.
func prepareAudit(e storage.AuditEvent) (preparedAudit, error) {
	if err := storage.CanonicalizeDetails(&e); err != nil {
		return preparedAudit{}, fmt.Errorf("encode audit event: %w", err)
	}
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	data, err := json.Marshal(e)
	if err != nil {
		return preparedAudit{}, fmt.Errorf("encode audit event: %w", err)
	}
	if !bytes.HasPrefix(data, []byte(auditHead)) || !bytes.HasSuffix(data, []byte(auditTail)) {
		return preparedAudit{}, fmt.Errorf("encode audit event: unexpected layout")
	}
	return preparedAudit{event: e, body: data[len(auditHead) : len(data)-len(auditTail)]}, nil
}

// planAudit assigns the next Seq and the chain hashes and plans the put. It
// reads the bucket's sequence rather than calling NextSequence, because a
// plan must not change anything until the whole request has passed its checks.
// The chain head (the newest event's hash) lives in the meta bucket, so
// appending never decodes the last event.
func planAudit(tx *bbolt.Tx, ws *writeSet, p preparedAudit) storage.AuditEvent {
	e := p.event
	e.Seq = tx.Bucket(bktAudit).Sequence() + 1
	e.PrevHash = string(tx.Bucket(bktMeta).Get(metaAuditHead))
	data := make([]byte, 0, len(p.body)+200)
	data = append(data, `{"seq":`...)
	data = strconv.AppendUint(data, e.Seq, 10)
	data = append(data, p.body...)
	data = append(data, `"prev_hash":"`...)
	data = append(data, e.PrevHash...) // hex: nothing to escape
	data = append(data, `","hash":""}`...)
	// HashEvent is SHA-256 over exactly these bytes (Hash empty); the stored
	// record is the same bytes with the hash spliced into the last member.
	sum := sha256.Sum256(data)
	e.Hash = hex.EncodeToString(sum[:])
	data = append(data[:len(data)-len(`""}`)], `"`+e.Hash+`"}`...)
	ws.put(bktMeta, metaAuditHead, []byte(e.Hash))
	ws.put(bktAudit, u64(e.Seq), data)
	ws.setSeq(bktAudit, e.Seq)
	return e
}

// AppendAudit assigns Seq, PrevHash and Hash and stores the event. It goes
// through the group writer because failed sign-ins append one each.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) (storage.AuditEvent, error) {
	var out storage.AuditEvent
	prepared, err := prepareAudit(e)
	if err != nil {
		return out, fmt.Errorf("append audit: %w", err)
	}
	err = s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		var ws writeSet
		out = planAudit(tx, &ws, prepared)
		return ws, nil
	})
	if err != nil {
		return storage.AuditEvent{}, fmt.Errorf("append audit: %w", err)
	}
	return out, nil
}

// ListAudit returns matching events newest first. The cursor is the Seq of
// the last event returned. Every older event is examined rather than
// stopping at the first one before Since: Seq order follows the writers'
// clocks, which are not guaranteed monotonic.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, string, error) {
	var before uint64
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("list audit: cursor %q: %w", q.Cursor, storage.ErrInvalidCursor)
		}
		before = n
	}
	var out []storage.AuditEvent
	next := ""
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bktAudit).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			// Seek lands on before itself (or the next one if pruned); step back
			// to the first key below it.
			k, v = c.Seek(u64(before))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && binary.BigEndian.Uint64(k) >= before {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			var e storage.AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit event: %w", err)
			}
			if !q.Matches(e) {
				continue
			}
			if q.Limit > 0 && len(out) == q.Limit {
				next = strconv.FormatUint(out[len(out)-1].Seq, 10)
				return nil
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	return out, next, nil
}

// walkChunk bounds how many events WalkAudit reads per read transaction. fn
// (an export writing a file, say) runs outside the transaction, because a
// long-lived read transaction blocks bbolt from growing its memory map and
// would stall sign-ins.
const walkChunk = 1000

// WalkAudit calls fn for every event in Seq order.
func (s *Store) WalkAudit(ctx context.Context, fn func(storage.AuditEvent) error) error {
	var from uint64
	for {
		var chunk []storage.AuditEvent
		err := s.view(ctx, func(tx *bbolt.Tx) error {
			c := tx.Bucket(bktAudit).Cursor()
			for k, v := c.Seek(u64(from)); k != nil && len(chunk) < walkChunk; k, v = c.Next() {
				var e storage.AuditEvent
				if err := json.Unmarshal(v, &e); err != nil {
					return fmt.Errorf("decode audit event: %w", err)
				}
				chunk = append(chunk, e)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("walk audit: %w", err)
		}
		for _, e := range chunk {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(chunk) < walkChunk {
			return nil
		}
		from = chunk[len(chunk)-1].Seq + 1
	}
}

// pruneChunk bounds deletions per write transaction so pruning a large
// backlog never holds the writer lock long enough to stall sign-ins.
const pruneChunk = 5000

// PruneAudit deletes events whose Time is before before. Candidates are found
// in a read transaction and deleted in bounded write transactions; events
// never change once written, so nothing can invalidate the list in between.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	type victim struct {
		key  []byte
		hash string
	}
	var victims []victim
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bktAudit).ForEach(func(k, v []byte) error {
			var e struct {
				Time time.Time `json:"time"`
				Hash string    `json:"hash"`
			}
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit event: %w", err)
			}
			if e.Time.Before(before) {
				victims = append(victims, victim{append([]byte(nil), k...), e.Hash})
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	n := 0
	for len(victims) > 0 {
		chunk := victims[:min(pruneChunk, len(victims))]
		victims = victims[len(chunk):]
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			b := bucket(tx, bktAudit)
			for _, v := range chunk {
				if err := b.Delete(v.key); err != nil {
					return err
				}
			}
			// The chain head is the newest event's hash, kept by every
			// append, so pruning older events leaves it as it is.
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("prune audit: %w", err)
		}
		n += len(chunk)
	}
	return n, nil
}
