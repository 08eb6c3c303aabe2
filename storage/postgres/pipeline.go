package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// errOneByOne: the pipelined write met something only the one-by-one path
// (a savepoint per sign-in) can sort out — a replay marker or email another
// instance committed between the reads and the writes, a taken session or
// user id. The group's transaction is rolled back and written one by one.
var errOneByOne = errors.New("postgres: group falls back to one sign-in at a time")

// writePipelined writes a group in a few round trips whatever its size: one
// carries every sign-in's reads and locks (partner FOR SHARE, live replay
// marker, user FOR UPDATE), Provision runs for each in Go, one carries every
// accepted sign-in's writes and the audit appends, then COMMIT. Sign-ins that
// share an email, replay key or session id with an earlier one of the group
// go in a later round of the same transaction, whose reads see the earlier
// round's writes. A refusal found by the reads writes nothing for that
// sign-in; anything the writes find unexpected (zero rows where one was
// due) abandons the whole transaction for the one-by-one path.
func (g *groupWriter) writePipelined(ctx context.Context, group []*groupRequest) ([]groupResult, error) {
	tx, err := g.s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // a no-op once committed
	results := make([]groupResult, len(group))
	pending := make([]int, len(group))
	for i := range pending {
		pending[i] = i
	}
	headLocked := false
	for len(pending) > 0 {
		round, later := splitRound(group, pending)
		accepted, err := readAndProvision(ctx, tx, group, round, results)
		if err != nil {
			return nil, err
		}
		if err := writeRound(ctx, tx, group, accepted, &headLocked); err != nil {
			return nil, err
		}
		for _, a := range accepted {
			results[a.index].user = a.user
		}
		pending = later
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// splitRound keeps the first sign-in of each email, replay key and session
// id in this round and moves the others to a later one.
func splitRound(group []*groupRequest, pending []int) (round, later []int) {
	seen := map[string]bool{}
	for _, i := range pending {
		w := group[i].r.w
		keys := []string{"e\x00" + w.OrgID + "\x00" + strings.ToLower(w.Email), "s\x00" + w.Session.ID}
		if w.Replay != nil {
			keys = append(keys, "r\x00"+w.Replay.Key)
		}
		clash := false
		for _, k := range keys {
			clash = clash || seen[k]
		}
		if clash {
			later = append(later, i)
			continue
		}
		for _, k := range keys {
			seen[k] = true
		}
		round = append(round, i)
	}
	return round, later
}

// planned is a sign-in whose reads and Provision accepted it.
type planned struct {
	index    int
	user     storage.User
	existing bool
}

// readAndProvision sends the round's reads in one batch, then decides each
// sign-in: refusals go into results, the accepted are returned.
func readAndProvision(ctx context.Context, tx pgx.Tx, group []*groupRequest, round []int, results []groupResult) ([]planned, error) {
	b := &pgx.Batch{}
	for _, i := range round {
		w := group[i].r.w
		b.Queue("SELECT active FROM partners WHERE org_id = $1 AND id = $2 FOR SHARE", w.Session.OrgID, w.Session.PartnerID)
		if w.Replay != nil {
			b.Queue("SELECT expires_at > $2 FROM replays WHERE key = $1", w.Replay.Key, w.Now.UTC())
		}
		b.Queue(userByEmailSQL+" FOR UPDATE", w.OrgID, w.Email)
	}
	type read struct {
		active, live bool
		existing     *storage.User
	}
	reads := make([]read, len(round))
	br := tx.SendBatch(ctx, b)
	for n, i := range round {
		w := group[i].r.w
		r := &reads[n]
		if err := br.QueryRow().Scan(&r.active); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			br.Close()
			return nil, err
		}
		if w.Replay != nil {
			if err := br.QueryRow().Scan(&r.live); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				br.Close()
				return nil, err
			}
		}
		var raw []byte
		switch err := br.QueryRow().Scan(&raw); {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			br.Close()
			return nil, err
		default:
			r.existing = &storage.User{}
			if err := json.Unmarshal(raw, r.existing); err != nil {
				br.Close()
				return nil, fmt.Errorf("decode user: %w", err)
			}
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}

	// max_users: the database's count (taken under the partner's advisory
	// lock, as on the one-by-one path) plus the users this round has
	// accepted but not yet written.
	counted := map[string]int{}
	delta := map[string]int{}
	var countErr error
	partnerUsers := func(partnerID string) int {
		if partnerID == "" || countErr != nil {
			return 0
		}
		n, ok := counted[partnerID]
		if !ok {
			cb := &pgx.Batch{}
			cb.Queue("SELECT pg_advisory_xact_lock($1)", partnerLockKey(partnerID))
			cb.Queue("SELECT count(*) FROM users WHERE partner_id = $1", partnerID)
			cbr := tx.SendBatch(ctx, cb)
			if _, err := cbr.Exec(); err != nil {
				countErr = err
			} else if err := cbr.QueryRow().Scan(&n); err != nil {
				countErr = err
			}
			if err := cbr.Close(); err != nil && countErr == nil {
				countErr = err
			}
			if countErr != nil {
				return 0
			}
			counted[partnerID] = n
		}
		return n + delta[partnerID]
	}
	var accepted []planned
	for n, i := range round {
		w, r := group[i].r.w, reads[n]
		refuse := func(err error) { results[i].err = fmt.Errorf("sign in: %w", err) }
		if !r.active {
			refuse(fmt.Errorf("partner %q: %w", w.Session.PartnerID, storage.ErrPartnerInactive))
			continue
		}
		if r.live {
			refuse(storage.ErrReplay)
			continue
		}
		var arg *storage.User
		if r.existing != nil {
			c := *r.existing
			arg = &c
		}
		u, err := w.Provision(arg, partnerUsers)
		if countErr != nil {
			return nil, countErr
		}
		if err == nil {
			err = checkProvisioned(w, r.existing, u)
		}
		if err != nil {
			refuse(err) // Provision's own error stays errors.Is-able
			continue
		}
		switch {
		case r.existing == nil:
			delta[u.PartnerID]++
		case r.existing.PartnerID != u.PartnerID:
			delta[r.existing.PartnerID]--
			delta[u.PartnerID]++
		}
		accepted = append(accepted, planned{index: i, user: u, existing: r.existing != nil})
	}
	return accepted, nil
}

// writeRound sends every accepted sign-in's writes and audit event in one
// batch and checks that each wrote what it had to.
func writeRound(ctx context.Context, tx pgx.Tx, group []*groupRequest, accepted []planned, headLocked *bool) error {
	if len(accepted) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	var audited []*preparedAudit
	for _, a := range accepted {
		w := group[a.index].r.w
		if w.Replay != nil {
			b.Queue(recordReplaySQL, w.Replay.Key, w.Replay.ExpiresAt.UTC(), w.Now.UTC())
		}
		args, err := userArgs(a.user)
		if err != nil {
			return err
		}
		if a.existing {
			b.Queue(updateUserSQL, args...)
		} else {
			b.Queue(insertUserSQL+" ON CONFLICT DO NOTHING", args...)
		}
		sess := w.Session
		sess.UserID = a.user.ID
		data, err := encode(sess)
		if err != nil {
			return err
		}
		b.Queue(insertSessionSQL, sess.ID, sess.UserID, sess.OrgID, sess.PartnerID, sess.ExpiresAt.UTC(), data)
		if t := w.TouchKey; t != nil {
			b.Queue(touchKeySQL, t.OrgID, t.Kid, t.At.UTC())
		}
		if au := group[a.index].r.audit; au != nil {
			audited = append(audited, au)
		}
	}
	lock := len(audited) > 0 && !*headLocked
	if lock {
		b.Queue(lockAuditHeadSQL)
	}
	for _, au := range audited {
		queueAppend(b, au)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for _, a := range accepted {
		w := group[a.index].r.w
		if w.Replay != nil {
			var recorded bool
			if err := br.QueryRow().Scan(&recorded); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return errOneByOne // another instance recorded the key since the read
				}
				return err
			}
		}
		for range 2 { // the user's write, then the session's
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return errOneByOne // email, user id or session id taken meanwhile
			}
		}
		if w.TouchKey != nil {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
	}
	if lock {
		if _, err := br.Exec(); err != nil {
			return err
		}
		*headLocked = true
	}
	for _, au := range audited {
		if _, err := readAppend(br, au); err != nil {
			return err
		}
	}
	return br.Close()
}
