package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// errUserRace: the new user's insert found its email taken by a sign-in that
// committed after this one looked the email up. Nothing is wrong: the
// sign-in runs again, finds that user and updates it, so concurrent first
// sign-ins of one email on any number of instances all succeed as one user.
var errUserRace = errors.New("postgres: a concurrent sign-in created the user")

// userRaceAttempts bounds the re-runs errUserRace causes.
const userRaceAttempts = 5

// signIn is one validated request and, once written, its answer.
type signIn struct {
	w     storage.SignInWrite
	audit *preparedAudit // nil without an audit event
}

func newSignIn(w storage.SignInWrite) (*signIn, error) {
	switch {
	case w.Provision == nil:
		return nil, errors.New("sign in: no provision function")
	case w.OrgID == "" || w.Email == "":
		return nil, errors.New("sign in: organization or email is empty")
	case w.Session.OrgID != w.OrgID:
		return nil, fmt.Errorf("sign in: session organization %q differs from the user's %q", w.Session.OrgID, w.OrgID)
	case w.Session.ID == "":
		return nil, errors.New("sign in: session id is empty")
	case w.Now.IsZero():
		// Replay expiry is judged on the caller's clock, never the server's.
		return nil, errors.New("sign in: Now is zero")
	}
	r := &signIn{w: w}
	if w.Audit != nil {
		a, err := prepareAudit(*w.Audit)
		if err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		r.audit = &a
	}
	return r, nil
}

// SignIn applies w atomically: one transaction that commits (synchronously)
// before SignIn returns nil. Concurrent sign-ins of this Store share one
// transaction (see groupWriter) unless Options.NoGroupCommit is set.
//
// Inside the transaction, in this order: the session's partner row is locked
// FOR SHARE and must be active (a deactivation, which locks it FOR UPDATE,
// waits for this sign-in or makes it wait and then refuse); the replay marker
// is inserted (zero rows: a live marker exists, ErrReplay); the user with the
// email is locked FOR UPDATE; Provision runs; then the user, the session and
// the key's last use are written and, last, the audit event is chained under
// the chain head's row lock, held only for the final round trip and commit.
func (s *Store) SignIn(ctx context.Context, w storage.SignInWrite) (storage.User, error) {
	r, err := newSignIn(w)
	if err != nil {
		return storage.User{}, err
	}
	if s.group != nil {
		return s.group.submit(ctx, r)
	}
	return s.signInAlone(ctx, r)
}

// signInAlone runs one sign-in in its own transaction.
func (s *Store) signInAlone(ctx context.Context, r *signIn) (storage.User, error) {
	var out storage.User
	var err error
	for attempt := 1; ; attempt++ {
		err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			u, _, err := writeSignIn(ctx, tx, r, true)
			out = u
			return err
		})
		if !errors.Is(err, errUserRace) || attempt == userRaceAttempts {
			break
		}
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("sign in: %w", err)
	}
	return out, nil
}

// writeSignIn performs every step of one sign-in in tx. withAudit appends
// the audit event too (a group appends its events together at the end).
// Any error leaves tx to be rolled back (or rolled back to a savepoint):
// nothing of the sign-in survives it.
//
// prelude statements (a group's savepoint commands) are sent in the same
// round trip as the first reads, ahead of them.
func writeSignIn(ctx context.Context, tx pgx.Tx, r *signIn, withAudit bool, prelude ...string) (storage.User, *storage.AuditEvent, error) {
	w := r.w
	b := &pgx.Batch{}
	for _, sql := range prelude {
		b.Queue(sql)
	}
	b.Queue("SELECT active FROM partners WHERE org_id = $1 AND id = $2 FOR SHARE", w.Session.OrgID, w.Session.PartnerID)
	if w.Replay != nil {
		b.Queue(recordReplaySQL, w.Replay.Key, w.Replay.ExpiresAt.UTC(), w.Now.UTC())
	}
	b.Queue(userByEmailSQL+" FOR UPDATE", w.OrgID, w.Email)
	existing, err := func() (*storage.User, error) {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		for range prelude {
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
		}
		var active bool
		if err := br.QueryRow().Scan(&active); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if !active {
			return nil, fmt.Errorf("partner %q: %w", w.Session.PartnerID, storage.ErrPartnerInactive)
		}
		if w.Replay != nil {
			var recorded bool
			if err := br.QueryRow().Scan(&recorded); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return nil, storage.ErrReplay
				}
				return nil, err
			}
		}
		var raw []byte
		if err := br.QueryRow().Scan(&raw); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, br.Close()
			}
			return nil, err
		}
		var u storage.User
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("decode user: %w", err)
		}
		return &u, br.Close()
	}()
	if err != nil {
		return storage.User{}, nil, err
	}

	// max_users across instances: counting a partner's users takes a
	// transaction-level advisory lock named after the partner first, so two
	// sign-ins that would each create the partner's last allowed user count
	// one after the other; the second counts the first's committed user.
	// (Both hold the partner row FOR SHARE, so the row itself cannot be the
	// lock: upgrading two share locks would deadlock.)
	var countErr error
	partnerUsers := func(partnerID string) int {
		if partnerID == "" || countErr != nil {
			return 0
		}
		cb := &pgx.Batch{}
		cb.Queue("SELECT pg_advisory_xact_lock($1)", partnerLockKey(partnerID))
		cb.Queue("SELECT count(*) FROM users WHERE partner_id = $1", partnerID)
		br := tx.SendBatch(ctx, cb)
		defer br.Close()
		var n int
		if _, err := br.Exec(); err != nil {
			countErr = err
			return 0
		}
		if err := br.QueryRow().Scan(&n); err != nil {
			countErr = err
			return 0
		}
		return n
	}
	var arg *storage.User
	if existing != nil {
		c := *existing // Provision may scribble on what it is given
		arg = &c
	}
	u, err := w.Provision(arg, partnerUsers)
	if countErr != nil {
		return storage.User{}, nil, countErr
	}
	if err != nil {
		return storage.User{}, nil, err // as is, per the contract
	}
	if err := checkProvisioned(w, existing, u); err != nil {
		return storage.User{}, nil, err
	}

	userArgs, err := userArgs(u)
	if err != nil {
		return storage.User{}, nil, err
	}
	sess := w.Session
	sess.UserID = u.ID
	sessData, err := encode(sess)
	if err != nil {
		return storage.User{}, nil, err
	}
	b = &pgx.Batch{}
	if existing != nil {
		b.Queue(updateUserSQL, userArgs...)
	} else {
		b.Queue(insertUserSQL+" ON CONFLICT DO NOTHING", userArgs...)
	}
	b.Queue(insertSessionSQL, sess.ID, sess.UserID, sess.OrgID, sess.PartnerID, sess.ExpiresAt.UTC(), sessData)
	if t := w.TouchKey; t != nil {
		b.Queue(touchKeySQL, t.OrgID, t.Kid, t.At.UTC())
	}
	appendAudit := withAudit && r.audit != nil
	if appendAudit {
		b.Queue(lockAuditHeadSQL)
		queueAppend(b, r.audit)
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return storage.User{}, nil, err
	}
	if tag.RowsAffected() == 0 {
		if existing != nil {
			return storage.User{}, nil, fmt.Errorf("user %q vanished while locked", u.ID)
		}
		if err := br.Close(); err != nil {
			return storage.User{}, nil, err
		}
		// The id or the email is taken. The id: the provisioned user
		// collides with another user (ErrExists). The email: a concurrent
		// sign-in created the user since we looked; run again.
		var idTaken bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", u.ID).Scan(&idTaken); err != nil {
			return storage.User{}, nil, err
		}
		if idTaken {
			return storage.User{}, nil, fmt.Errorf("user %q: %w", u.ID, storage.ErrExists)
		}
		return storage.User{}, nil, errUserRace
	}
	if tag, err = br.Exec(); err != nil {
		return storage.User{}, nil, err
	}
	if tag.RowsAffected() == 0 {
		return storage.User{}, nil, fmt.Errorf("session: %w", storage.ErrExists)
	}
	if w.TouchKey != nil {
		if _, err := br.Exec(); err != nil {
			return storage.User{}, nil, err
		}
	}
	var ev *storage.AuditEvent
	if appendAudit {
		if _, err := br.Exec(); err != nil {
			return storage.User{}, nil, err
		}
		e, err := readAppend(br, r.audit)
		if err != nil {
			return storage.User{}, nil, err
		}
		ev = &e
	}
	return u, ev, br.Close()
}

// insertSessionSQL writes the session only if its user row exists by then:
// sent in the same round trip as the user's insert, it writes nothing when
// that insert met a concurrent sign-in's user.
const insertSessionSQL = `INSERT INTO sessions (id, user_id, org_id, partner_id, expires_at, data)
	SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2)
	ON CONFLICT (id) DO NOTHING`

// touchKeySQL moves a key's last use. A deleted key matches no row: skipped,
// as the contract says. An older touch never moves last_used_at back.
const touchKeySQL = `UPDATE keys SET last_used_at = $3 WHERE org_id = $1 AND kid = $2
	AND (last_used_at IS NULL OR last_used_at < $3)`

// checkProvisioned refuses a provisioned user that would break the email
// index or move the existing user to another id or organization.
func checkProvisioned(w storage.SignInWrite, existing *storage.User, u storage.User) error {
	switch {
	case u.ID == "":
		return errors.New("provisioned user has no id")
	case u.OrgID != w.OrgID:
		return fmt.Errorf("provisioned user's organization %q differs from %q: %w", u.OrgID, w.OrgID, storage.ErrConflict)
	case u.Email != w.Email:
		return fmt.Errorf("provisioned email %q differs from %q: %w", u.Email, w.Email, storage.ErrConflict)
	case existing != nil && u.ID != existing.ID:
		return fmt.Errorf("provision changed user id %q to %q: %w", existing.ID, u.ID, storage.ErrConflict)
	}
	return nil
}

// partnerLockKey names the advisory lock that serialises counting one
// partner's users. A collision between two partners only makes their
// counts wait for each other.
func partnerLockKey(partnerID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse:partner-users:"))
	h.Write([]byte(partnerID))
	return int64(h.Sum64())
}
