package postgres

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"gatehouse/storage"
)

// userColumns are written together on every insert and update; the search
// columns are lower-cased here so the match agrees with the other backends.
const (
	insertUserSQL = `INSERT INTO users (id, org_id, email, tenant_id, partner_id, email_search, name_search, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	updateUserSQL = `UPDATE users SET org_id = $2, email = $3, tenant_id = $4, partner_id = $5,
		email_search = $6, name_search = $7, data = $8 WHERE id = $1`
)

func userArgs(u storage.User) ([]any, error) {
	data, err := encode(u)
	if err != nil {
		return nil, err
	}
	return []any{u.ID, u.OrgID, u.Email, u.TenantID, u.PartnerID,
		strings.ToLower(u.Email), strings.ToLower(u.Name), data}, nil
}

// CreateUser stores u; ErrExists when the id or the email is taken (the
// unique indexes decide, for every instance at once).
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	args, err := userArgs(u)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, insertUserSQL, args...); err != nil {
		return fmt.Errorf("user %q: %w", u.ID, classify(err))
	}
	return nil
}

// GetUser returns the user; ErrNotFound when unknown.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.User](ctx, s.pool, fmt.Sprintf("user %q", id), "SELECT data FROM users WHERE id = $1", id)
}

// userByEmailSQL selects by the expression the unique index is built on.
const userByEmailSQL = "SELECT data FROM users WHERE org_id = $1 AND lower(email) = lower($2)"

// GetUserByEmail returns the user of the organization with the (normalised)
// email; users of other organizations are never matched.
func (s *Store) GetUserByEmail(ctx context.Context, orgID, email string) (storage.User, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.User](ctx, s.pool, "user email", userByEmailSQL, orgID, email)
}

// ListUsers returns one page of the org's users ordered by email (byte-wise).
// The cursor is the last email of the previous page, base64url-encoded, so
// pages stay gap-free while users are added or removed between calls.
func (s *Store) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, string, error) {
	var after string
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("user cursor %q: %w", q.Cursor, storage.ErrInvalidCursor)
		}
		after = string(b)
	}
	sql := "SELECT data FROM users WHERE org_id = $1"
	args := []any{q.OrgID}
	if q.TenantID != "" {
		args = append(args, q.TenantID)
		sql += fmt.Sprintf(" AND tenant_id = $%d", len(args))
	}
	if q.Cursor != "" {
		args = append(args, after)
		sql += fmt.Sprintf(" AND email > $%d", len(args))
	}
	if q.Q != "" {
		args = append(args, strings.ToLower(q.Q))
		sql += fmt.Sprintf(" AND (strpos(email_search, $%d) > 0 OR strpos(name_search, $%d) > 0)", len(args), len(args))
	}
	sql += " ORDER BY email"
	if q.Limit > 0 {
		// One more than the page shows whether another page follows.
		args = append(args, q.Limit+1)
		sql += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	users, err := listJSON[storage.User](ctx, s.pool, sql, args...)
	if err != nil {
		return nil, "", err
	}
	if q.Limit <= 0 || len(users) <= q.Limit {
		return users, "", nil
	}
	users = users[:q.Limit]
	return users, base64.RawURLEncoding.EncodeToString([]byte(users[len(users)-1].Email)), nil
}

// CountUsers counts the org's users, or one tenant's when tenantID is set.
func (s *Store) CountUsers(ctx context.Context, orgID, tenantID string) (int, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE org_id = $1 AND ($2 = '' OR tenant_id = $2)", orgID, tenantID).Scan(&n)
	return n, classify(err)
}

// CountPartnerUsers counts the users whose PartnerID is partnerID.
func (s *Store) CountPartnerUsers(ctx context.Context, partnerID string) (int, error) {
	if partnerID == "" {
		return 0, nil
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return countPartnerUsers(ctx, s.pool, partnerID)
}

func countPartnerUsers(ctx context.Context, q querier, partnerID string) (int, error) {
	var n int
	err := q.QueryRow(ctx, "SELECT count(*) FROM users WHERE partner_id = $1 AND partner_id <> ''", partnerID).Scan(&n)
	return n, classify(err)
}

// DeleteUser removes the user and, through the foreign key, every session of
// it, in one statement. A sign-in of the user holds its row FOR UPDATE, so
// the two are ordered: either the sign-in's session is written first and
// deleted here, or the sign-in finds no user and provisions a new one.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, "DELETE FROM users WHERE id = $1", id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("user %q: %w", id, storage.ErrNotFound)
	}
	return nil
}
