package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

var _ storage.ChangeNotifier = (*Store)(nil)

// changeChannel is the NOTIFY channel migration 0002's triggers write to.
const changeChannel = "gatehouse_changes"

// feedApplicationName is the listening session's application_name.
const feedApplicationName = "gatehouse change feed"

// Timings of the change feed's dedicated connection.
const (
	// feedIdle bounds one wait for a notification; after it the connection
	// is pinged, so a server that silently stopped answering is noticed and
	// the feed reconnects (a blocked read would otherwise wait forever).
	feedIdle = 5 * time.Second
	// feedRetry is the pause between reconnection attempts.
	feedRetry = 500 * time.Millisecond
)

// Subscribe listens on the change channel over a dedicated connection (not
// one of the pool's: LISTEN belongs to a session) and calls fn for every
// change any instance commits. After every (re)connection it reports
// storage.ChangeAll, because notifications sent while it was away are lost.
// It returns ctx's error when ctx ends.
func (s *Store) Subscribe(ctx context.Context, fn func(storage.Change)) error {
	for {
		err := s.listen(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("change feed: connection lost; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(feedRetry):
		}
	}
}

// listen runs one connection of the feed until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, fn func(storage.Change)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	// Named apart from the pool's sessions, so an operator can tell it in
	// pg_stat_activity (and a test can kill it).
	cfg.RuntimeParams["application_name"] = feedApplicationName
	cctx, cancel := context.WithTimeout(ctx, s.pool.Config().ConnConfig.ConnectTimeout+time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return classify(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	lctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
	_, err = conn.Exec(lctx, "LISTEN "+changeChannel)
	cancel()
	if err != nil {
		return classify(err)
	}
	// Anything committed before LISTEN took effect was not delivered.
	fn(storage.Change{Kind: storage.ChangeAll})
	for {
		wctx, cancel := context.WithTimeout(ctx, feedIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			fn(parseChange(n.Payload))
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			return classify(err)
		}
		// Idle: prove the connection still reaches the server.
		if conn.IsClosed() {
			return errors.New("change feed: connection closed while idle")
		}
		pctx, cancel := context.WithTimeout(ctx, s.queryTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return classify(err)
		}
	}
}

// parseChange decodes a trigger's "<table>:<org_id>" payload.
func parseChange(payload string) storage.Change {
	table, org, _ := strings.Cut(payload, ":")
	kind := storage.ChangeAll
	switch table {
	case "keys":
		kind = storage.ChangeKeys
	case "partners":
		kind = storage.ChangePartners
	case "tenants":
		kind = storage.ChangeTenants
	case "users":
		kind = storage.ChangeUsers
	}
	return storage.Change{Kind: kind, OrgID: org}
}
