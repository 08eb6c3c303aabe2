package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// preparedAudit is an event encoded once, before any transaction: its JSON
// without the store-assigned fields. The chain is extended by the server
// (appendAuditSQL), which puts Seq and PrevHash around that text and hashes
// the very bytes storage.HashEvent would, while holding the chain head.
type preparedAudit struct {
	event  storage.AuditEvent // Details canonical; Seq, PrevHash, Hash empty
	middle string             // the JSON between `{"seq":N,` and `,"prev_hash":…}`
}

// The fixed ends of an AuditEvent's encoding: Seq is its first field and
// PrevHash, Hash its last two (see storage.AuditEvent's field order).
const (
	auditHead = `{"seq":0,`
	auditTail = `,"prev_hash":"","hash":""}`
)

func prepareAudit(e storage.AuditEvent) (preparedAudit, error) {
	if err := storage.CanonicalizeDetails(&e); err != nil {
		return preparedAudit{}, fmt.Errorf("audit details: %w", err)
	}
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	b, err := json.Marshal(e)
	if err != nil {
		return preparedAudit{}, fmt.Errorf("encode audit event: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(auditHead)) || !bytes.HasSuffix(b, []byte(auditTail)) {
		return preparedAudit{}, errors.New("encode audit event: unexpected field order (storage.AuditEvent changed?)")
	}
	return preparedAudit{event: e, middle: string(b[len(auditHead) : len(b)-len(auditTail)])}, nil
}

// lockAuditHeadSQL runs before the first append of a transaction, as its own
// statement: in READ COMMITTED the next statement's snapshot is taken after
// the lock is granted, so it reads the head the previous holder committed.
const lockAuditHeadSQL = "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"

// appendAuditSQL extends the chain by one event: $1 is preparedAudit.middle.
// The hash is SHA-256 over `{"seq":N,` + middle + `,"prev_hash":"P","hash":""}`,
// exactly json.Marshal of the event with Hash cleared (storage.HashEvent);
// the stored data carries the hash in place of the empty one.
const appendAuditSQL = `WITH prev AS (
	SELECT seq, hash FROM audit_head WHERE id = 1
), next AS (
	SELECT prev.seq + 1 AS seq, prev.hash AS prev_hash,
		encode(sha256(convert_to('{"seq":' || (prev.seq + 1) || ',' || $1::text || ',"prev_hash":"' || prev.hash || '","hash":""}', 'UTF8')), 'hex') AS hash
	FROM prev
), head AS (
	UPDATE audit_head SET seq = next.seq, hash = next.hash FROM next WHERE audit_head.id = 1
), ins AS (
	INSERT INTO audit (seq, time, org_id, type, data)
	SELECT seq, $2, $3, $4, ('{"seq":' || seq || ',' || $1::text || ',"prev_hash":"' || prev_hash || '","hash":"' || hash || '"}')::json
	FROM next
)
SELECT seq, prev_hash, hash FROM next`

func queueAppend(b *pgx.Batch, a *preparedAudit) {
	b.Queue(appendAuditSQL, a.middle, a.event.Time.UTC(), a.event.OrgID, a.event.Type)
}

// readAppend reads appendAuditSQL's answer into the event it returns.
func readAppend(br pgx.BatchResults, a *preparedAudit) (storage.AuditEvent, error) {
	e := a.event
	var seq int64
	if err := br.QueryRow().Scan(&seq, &e.PrevHash, &e.Hash); err != nil {
		return storage.AuditEvent{}, fmt.Errorf("append audit event: %w", err)
	}
	e.Seq = uint64(seq)
	return e, nil
}

// AppendAudit assigns Seq, PrevHash and Hash and stores the event. The chain
// head row is locked for the rest of the transaction, so appends from every
// instance form one chain.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) (storage.AuditEvent, error) {
	a, err := prepareAudit(e)
	if err != nil {
		return storage.AuditEvent{}, err
	}
	var out storage.AuditEvent
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(lockAuditHeadSQL)
		queueAppend(b, &a)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		out, err = readAppend(br, &a)
		if err != nil {
			return err
		}
		return br.Close()
	})
	return out, err
}

func decodeEvent(raw []byte) (storage.AuditEvent, error) {
	var e storage.AuditEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("decode audit event: %w", err)
	}
	return e, nil
}

// ListAudit returns one page of matching events, newest first. The cursor is
// the Seq of the last event returned, so appends between pages do not shift
// later pages.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, string, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 63)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("audit cursor %q: %w", q.Cursor, storage.ErrInvalidCursor)
		}
		conds = append(conds, "seq < "+arg(int64(n)))
	}
	if q.OrgID != "" {
		conds = append(conds, "org_id = "+arg(q.OrgID))
	}
	switch {
	case q.Type == "":
	case strings.HasSuffix(q.Type, "."):
		conds = append(conds, "starts_with(type, "+arg(q.Type)+")")
	default:
		conds = append(conds, "type = "+arg(q.Type))
	}
	if !q.Since.IsZero() {
		conds = append(conds, "time >= "+arg(q.Since.UTC()))
	}
	// The same filters as storage.AuditQuery.Matches (Email ignoring case).
	if q.RequestID != "" {
		conds = append(conds, "data->>'request_id' = "+arg(q.RequestID))
	}
	if q.PartnerID != "" {
		conds = append(conds, "data->>'partner_id' = "+arg(q.PartnerID))
	}
	if q.Email != "" {
		conds = append(conds, "lower(data->>'email') = lower("+arg(q.Email)+")")
	}
	sql := "SELECT data FROM audit"
	if len(conds) > 0 {
		sql += " WHERE " + strings.Join(conds, " AND ")
	}
	sql += " ORDER BY seq DESC"
	if q.Limit > 0 {
		sql += " LIMIT " + arg(q.Limit+1)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", classify(err)
	}
	defer rows.Close()
	var out []storage.AuditEvent
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, "", classify(err)
		}
		e, err := decodeEvent(raw)
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", classify(err)
	}
	if q.Limit <= 0 || len(out) <= q.Limit {
		return out, "", nil
	}
	out = out[:q.Limit]
	return out, strconv.FormatUint(out[len(out)-1].Seq, 10), nil
}

// walkPage is how many events WalkAudit reads per query.
const walkPage = 500

// WalkAudit calls fn for every event in Seq order. It reads in pages, each
// under its own deadline, and calls fn between queries, so a slow fn (an
// export) holds no connection and a long log never meets a query timeout.
func (s *Store) WalkAudit(ctx context.Context, fn func(storage.AuditEvent) error) error {
	var after int64
	for {
		page, err := s.auditPage(ctx, after)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < walkPage {
			return nil
		}
		after = int64(page[len(page)-1].Seq)
	}
}

func (s *Store) auditPage(ctx context.Context, after int64) ([]storage.AuditEvent, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT data FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2", after, walkPage)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []storage.AuditEvent
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, classify(err)
		}
		e, err := decodeEvent(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, classify(rows.Err())
}

// PruneAudit deletes events older than before, oldest first, in bounded
// batches. The head row keeps Seq and Hash, so the chain continues.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	return s.deleteBatches(ctx, `DELETE FROM audit WHERE seq IN (
		SELECT seq FROM audit WHERE time < $1 ORDER BY seq LIMIT 1000 FOR UPDATE SKIP LOCKED)`, before.UTC())
}
