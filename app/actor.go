package app

import (
	"context"
	"errors"

	"gatehouse/storage"
)

// Actor is who asks for an administrative operation. The admin socket and
// the console act as the operator (every organization); a bearer admin token
// acts within its organization with its role.
type Actor struct {
	Kind    string // ActorOperator, ActorConsole or ActorToken
	OrgID   string // the token's organization
	Role    string // the token's role
	TokenID string
	// RequestID is the id of the admin API request acting (its
	// X-Request-ID), recorded in the audit event it causes, so the event of
	// an answer can be found by the id the answer carried. Empty for the
	// console, which makes no requests.
	RequestID string
}

// Actor kinds.
const (
	ActorOperator = "operator"
	ActorConsole  = "console"
	ActorToken    = "token"
)

// Operator is the socket's actor; Console the terminal console's.
var (
	Operator = Actor{Kind: ActorOperator}
	Console  = Actor{Kind: ActorConsole}
)

// String names the actor in audit events ("operator", "console", "token:tok_…").
func (a Actor) String() string {
	if a.Kind == ActorToken {
		return "token:" + a.TokenID
	}
	return a.Kind
}

func (a Actor) fullRights() bool { return a.Kind == ActorOperator || a.Kind == ActorConsole }

// FullRights reports whether the actor is the operator (socket or console).
func (a Actor) FullRights() bool { return a.fullRights() }

// access is what an operation needs.
type access int

const (
	readAccess  access = iota // any actor of the organization
	adminAccess               // the operator or an organization admin
)

// permit checks that actor may act on orgID and that the organization exists.
// A token of another organization gets not_found, never a hint that it exists.
func (s *Service) permit(ctx context.Context, actor Actor, orgID string, need access) error {
	if !actor.fullRights() {
		if actor.Kind != ActorToken || actor.OrgID != orgID {
			return notFound("organization")
		}
		if need == adminAccess && actor.Role != RoleAdmin {
			return Errorf(CodeForbidden, "this operation needs an admin token; this token is readOnly")
		}
	}
	if _, err := s.store.GetOrg(ctx, orgID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return notFound("organization")
		}
		return err
	}
	return nil
}

func notFound(what string) *Error { return Errorf(CodeNotFound, "%s not found", what) }

// storeErr maps a store sentinel to the admin API's codes.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return notFound(what)
	case errors.Is(err, storage.ErrExists):
		return Errorf(CodeConflict, "%s already exists", what)
	case errors.Is(err, storage.ErrInvalidCursor):
		return validation("cursor", "not a cursor this server issued")
	case errors.Is(err, storage.ErrConflict):
		return Errorf(CodeConflict, "%s is still in use", what)
	}
	return err
}
