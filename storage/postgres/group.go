package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/storage"
)

// errClosed: a sign-in submitted after Close.
var errClosed = errors.New("postgres: store is closed")

// groupWriters is how many groups may be in flight at once: while one holds
// the audit chain head through its commit, the next prepares its sign-ins.
const groupWriters = 2

// groupWriter is the group commit of sign-ins: writer goroutines each take
// whatever sign-ins are queued (no waiting for more) and write them in one
// transaction, every sign-in inside its own savepoint so that one refused
// (a replay, an inactive partner, a provision error) rolls back alone. Their
// audit events are chained together at the end, so the chain head's lock and
// the commit's WAL flush are paid once per group instead of once per
// sign-in. A sign-in is answered only after its group's COMMIT returned.
type groupWriter struct {
	s        *Store
	size     int
	oneByOne bool         // Options.groupOneByOne
	mu       sync.RWMutex // held for reading while submitting, for writing by close
	shut     bool
	queue    chan *groupRequest
	done     sync.WaitGroup
}

type groupRequest struct {
	r     *signIn
	ctx   context.Context
	reply chan groupResult // buffered: the writer never blocks on it
}

type groupResult struct {
	user storage.User
	err  error
}

func newGroupWriter(s *Store, size int, oneByOne bool) *groupWriter {
	g := &groupWriter{s: s, size: size, oneByOne: oneByOne, queue: make(chan *groupRequest, size*groupWriters)}
	for range groupWriters {
		g.done.Add(1)
		go g.run()
	}
	return g
}

// submit queues r and waits for its group to commit. Once queued it always
// waits for the answer, even if ctx ends: the group has its own deadline,
// and the caller must not be told "failed" about a sign-in that committed.
func (g *groupWriter) submit(ctx context.Context, r *signIn) (storage.User, error) {
	req := &groupRequest{r: r, ctx: ctx, reply: make(chan groupResult, 1)}
	g.mu.RLock()
	if g.shut {
		g.mu.RUnlock()
		return storage.User{}, errClosed
	}
	select {
	case g.queue <- req:
	case <-ctx.Done():
		g.mu.RUnlock()
		return storage.User{}, ctx.Err()
	}
	g.mu.RUnlock()
	res := <-req.reply
	return res.user, res.err
}

// close answers every queued sign-in, then stops the writers.
func (g *groupWriter) close() {
	g.mu.Lock()
	if !g.shut {
		g.shut = true
		close(g.queue)
	}
	g.mu.Unlock()
	g.done.Wait()
}

func (g *groupWriter) run() {
	defer g.done.Done()
	for first := range g.queue {
		group := []*groupRequest{first}
	collect:
		for len(group) < g.size {
			select {
			case req, ok := <-g.queue:
				if !ok {
					break collect
				}
				group = append(group, req)
			default:
				break collect
			}
		}
		g.commit(group)
	}
}

// commit writes one group and answers each of its sign-ins. A group the
// server aborted as a deadlock victim (another instance's group locked the
// same rows in the other order) committed nothing and runs again.
func (g *groupWriter) commit(group []*groupRequest) {
	live := group[:0]
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.reply <- groupResult{err: err} // never started: nothing written
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	var results []groupResult
	ctx, cancel := context.WithTimeout(context.Background(), g.s.queryTimeout)
	defer cancel()
	err := retryTx(ctx, func() error {
		var err error
		if !g.oneByOne {
			results, err = g.writePipelined(ctx, live)
			if !errors.Is(err, errOneByOne) {
				return err
			}
		}
		results, err = g.write(ctx, live)
		return err
	})
	for i, req := range live {
		if err != nil {
			req.reply <- groupResult{err: fmt.Errorf("sign in: %w", err)}
			continue
		}
		req.reply <- results[i]
	}
}

const (
	savepointSQL = "SAVEPOINT signin"
	releaseSQL   = "RELEASE SAVEPOINT signin"
	rollbackSQL  = "ROLLBACK TO SAVEPOINT signin; RELEASE SAVEPOINT signin"
)

// write runs the group's transaction. A returned error fails the whole group
// (nothing committed); a sign-in's own refusal is in its result.
func (g *groupWriter) write(ctx context.Context, group []*groupRequest) ([]groupResult, error) {
	tx, err := g.s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // a no-op once committed
	results := make([]groupResult, len(group))
	var audited []*preparedAudit
	var prelude []string
	for i, req := range group {
		for attempt := 1; ; attempt++ {
			u, _, err := writeSignIn(ctx, tx, req.r, false, append(prelude, savepointSQL)...)
			prelude = nil
			if err == nil {
				results[i].user = u
				if req.r.audit != nil {
					audited = append(audited, req.r.audit)
				}
				prelude = []string{releaseSQL}
				break
			}
			if groupFatal(err) {
				return nil, err
			}
			if _, rerr := tx.Exec(ctx, rollbackSQL); rerr != nil {
				return nil, rerr
			}
			if errors.Is(err, errUserRace) && attempt < userRaceAttempts {
				continue
			}
			results[i].err = fmt.Errorf("sign in: %w", classify(err))
			break
		}
	}
	b := &pgx.Batch{}
	for _, sql := range prelude {
		b.Queue(sql)
	}
	if len(audited) > 0 {
		b.Queue(lockAuditHeadSQL)
		for _, a := range audited {
			queueAppend(b, a)
		}
	}
	if b.Len() > 0 {
		br := tx.SendBatch(ctx, b)
		for range prelude {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return nil, err
			}
		}
		if len(audited) > 0 {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return nil, err
			}
			for _, a := range audited {
				if _, err := readAppend(br, a); err != nil {
					br.Close()
					return nil, err
				}
			}
		}
		if err := br.Close(); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// groupFatal: the error ends the whole transaction, not one sign-in in it
// (the connection is gone, the deadline passed, or the server aborted the
// transaction to break a deadlock).
func groupFatal(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code[:2] == "40" || errors.Is(classify(err), storage.ErrUnavailable)
	}
	return errors.Is(classify(err), storage.ErrUnavailable) || errors.Is(err, context.Canceled)
}
