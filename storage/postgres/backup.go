package postgres

import (
	"context"
	"io"

	"gatehouse/storage/bolt"
)

// Backup writes a bbolt copy of the whole database to w: one Export (one
// REPEATABLE READ snapshot, which blocks no writer on any instance) imported
// into a fresh bbolt file in the temporary directory, checked, then
// streamed. A PostgreSQL deployment so keeps the appliance's one backup
// format: the file opens as a bbolt store, restores into either backend with
// `gatehouse migrate`, and `gatehouse backup`'s verification applies to it.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	ctx, cancel := withDefaultDeadline(ctx, dumpTimeout)
	defer cancel()
	return bolt.WriteCopy(ctx, s, "", w)
}
