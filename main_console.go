package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/tui"
)

// directIdle is how long the console's direct mode keeps the database open
// after an operation, so the burst of reads one screen makes shares one open;
// it is well under the 2s `gatehouse serve` waits for the bbolt lock.
const directIdle = 300 * time.Millisecond

// directAdmin is the console's app.Admin when no server answered on the
// admin socket. It holds the database only while operations run (and
// directIdle after), never for the console's lifetime, so `gatehouse serve`
// can start while a console is open; once a server answers on the socket,
// every further operation goes there instead.
type directAdmin struct {
	cfg app.Config
	log *slog.Logger

	mu     sync.Mutex
	inst   *instance
	timer  *time.Timer
	socket app.Admin // set once a server answered; then the database is never opened again
}

// acquire returns the Admin to call: the socket client when a server now
// answers, else the service over a database opened for this operation.
// release must be called when the operation is done.
func (d *directAdmin) acquire() (app.Admin, app.Actor, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.socket == nil {
		if c, _ := socketClient(d.cfg); c != nil {
			d.closeLocked()
			d.socket = c
		}
	}
	if d.socket != nil {
		return d.socket, app.Operator, nil
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.inst == nil {
		inst, err := openInstance(d.cfg, d.log)
		if err != nil {
			return nil, app.Actor{}, err
		}
		d.inst = inst
	}
	return d.inst.svc, app.Console, nil
}

// release schedules the close of the database after directIdle.
func (d *directAdmin) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inst == nil || d.timer != nil {
		return
	}
	d.timer = time.AfterFunc(directIdle, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.timer = nil
		d.closeLocked()
	})
}

func (d *directAdmin) closeLocked() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.inst != nil {
		_ = d.inst.store.Close()
		d.inst = nil
	}
}

// Mode tells the console's status bar how operations reach the data now:
// directly at first, through the socket once a server has answered there.
func (d *directAdmin) Mode() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.socket != nil {
		return tui.ModeSocket
	}
	return tui.ModeDirect
}

// Close releases the database at once (the console is quitting).
func (d *directAdmin) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeLocked()
}

// call runs one operation through acquire/release.
func call[T any](d *directAdmin, fn func(a app.Admin, actor app.Actor) (T, error)) (T, error) {
	a, actor, err := d.acquire()
	if err != nil {
		var zero T
		return zero, err
	}
	defer d.release()
	return fn(a, actor)
}

func call0(d *directAdmin, fn func(a app.Admin, actor app.Actor) error) error {
	_, err := call(d, func(a app.Admin, actor app.Actor) (struct{}, error) { return struct{}{}, fn(a, actor) })
	return err
}

var _ app.Admin = (*directAdmin)(nil)

func (d *directAdmin) Health(ctx context.Context) (app.Health, error) {
	return call(d, func(a app.Admin, _ app.Actor) (app.Health, error) { return a.Health(ctx) })
}

func (d *directAdmin) CreateOrg(ctx context.Context, _ app.Actor, in app.OrgInput) (storage.Org, error) {
	return call(d, func(a app.Admin, act app.Actor) (storage.Org, error) { return a.CreateOrg(ctx, act, in) })
}

func (d *directAdmin) ListOrgs(ctx context.Context, _ app.Actor) ([]storage.Org, error) {
	return call(d, func(a app.Admin, act app.Actor) ([]storage.Org, error) { return a.ListOrgs(ctx, act) })
}

func (d *directAdmin) CreateTenant(ctx context.Context, _ app.Actor, org string, in app.TenantInput) (app.TenantView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.TenantView, error) { return a.CreateTenant(ctx, act, org, in) })
}

func (d *directAdmin) ListTenants(ctx context.Context, _ app.Actor, org string) ([]app.TenantView, error) {
	return call(d, func(a app.Admin, act app.Actor) ([]app.TenantView, error) { return a.ListTenants(ctx, act, org) })
}

func (d *directAdmin) UpdateTenant(ctx context.Context, _ app.Actor, org, id string, p app.TenantPatch) (app.TenantView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.TenantView, error) { return a.UpdateTenant(ctx, act, org, id, p) })
}

func (d *directAdmin) DeleteTenant(ctx context.Context, _ app.Actor, org, id string) error {
	return call0(d, func(a app.Admin, act app.Actor) error { return a.DeleteTenant(ctx, act, org, id) })
}

func (d *directAdmin) CreatePartner(ctx context.Context, _ app.Actor, org string, in app.PartnerInput) (app.PartnerView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.PartnerView, error) { return a.CreatePartner(ctx, act, org, in) })
}

func (d *directAdmin) ListPartners(ctx context.Context, _ app.Actor, org string, active *bool) ([]app.PartnerView, error) {
	return call(d, func(a app.Admin, act app.Actor) ([]app.PartnerView, error) {
		return a.ListPartners(ctx, act, org, active)
	})
}

func (d *directAdmin) GetPartner(ctx context.Context, _ app.Actor, org, id string) (app.PartnerView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.PartnerView, error) { return a.GetPartner(ctx, act, org, id) })
}

func (d *directAdmin) UpdatePartner(ctx context.Context, _ app.Actor, org, id string, p app.PartnerPatch) (app.PartnerView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.PartnerView, error) {
		return a.UpdatePartner(ctx, act, org, id, p)
	})
}

func (d *directAdmin) DeactivatePartner(ctx context.Context, _ app.Actor, org, id string) (app.PartnerView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.PartnerView, error) {
		return a.DeactivatePartner(ctx, act, org, id)
	})
}

func (d *directAdmin) ReactivatePartner(ctx context.Context, _ app.Actor, org, id string) (app.PartnerView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.PartnerView, error) {
		return a.ReactivatePartner(ctx, act, org, id)
	})
}

func (d *directAdmin) RotateSecret(ctx context.Context, _ app.Actor, org, id string, grace time.Duration) (app.RotateResult, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.RotateResult, error) {
		return a.RotateSecret(ctx, act, org, id, grace)
	})
}

func (d *directAdmin) DeletePartner(ctx context.Context, _ app.Actor, org, id string) error {
	return call0(d, func(a app.Admin, act app.Actor) error { return a.DeletePartner(ctx, act, org, id) })
}

func (d *directAdmin) AddKey(ctx context.Context, _ app.Actor, org, partner string, in app.KeyInput) (app.KeyView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.KeyView, error) { return a.AddKey(ctx, act, org, partner, in) })
}

func (d *directAdmin) ListKeys(ctx context.Context, _ app.Actor, org, partner string) ([]app.KeyView, error) {
	return call(d, func(a app.Admin, act app.Actor) ([]app.KeyView, error) { return a.ListKeys(ctx, act, org, partner) })
}

func (d *directAdmin) DeleteKey(ctx context.Context, _ app.Actor, org, partner, kid string) error {
	return call0(d, func(a app.Admin, act app.Actor) error { return a.DeleteKey(ctx, act, org, partner, kid) })
}

func (d *directAdmin) ListUsers(ctx context.Context, _ app.Actor, org, q, tenant string, limit int, cursor string) (app.UserList, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.UserList, error) {
		return a.ListUsers(ctx, act, org, q, tenant, limit, cursor)
	})
}

func (d *directAdmin) GetUser(ctx context.Context, _ app.Actor, org, id string) (app.UserView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.UserView, error) { return a.GetUser(ctx, act, org, id) })
}

func (d *directAdmin) DeleteUser(ctx context.Context, _ app.Actor, org, id string) error {
	return call0(d, func(a app.Admin, act app.Actor) error { return a.DeleteUser(ctx, act, org, id) })
}

func (d *directAdmin) ListAudit(ctx context.Context, _ app.Actor, org string, f app.AuditFilter) (app.AuditList, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.AuditList, error) { return a.ListAudit(ctx, act, org, f) })
}

func (d *directAdmin) TokenCheck(ctx context.Context, _ app.Actor, org string, in app.TokenCheckInput) (app.TokenCheckResult, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.TokenCheckResult, error) { return a.TokenCheck(ctx, act, org, in) })
}

func (d *directAdmin) CreateAdminToken(ctx context.Context, _ app.Actor, org string, in app.AdminTokenInput) (app.AdminTokenView, error) {
	return call(d, func(a app.Admin, act app.Actor) (app.AdminTokenView, error) {
		return a.CreateAdminToken(ctx, act, org, in)
	})
}

func (d *directAdmin) ListAdminTokens(ctx context.Context, _ app.Actor, org string) ([]app.AdminTokenView, error) {
	return call(d, func(a app.Admin, act app.Actor) ([]app.AdminTokenView, error) {
		return a.ListAdminTokens(ctx, act, org)
	})
}

func (d *directAdmin) RevokeAdminToken(ctx context.Context, _ app.Actor, org, id string) error {
	return call0(d, func(a app.Admin, act app.Actor) error { return a.RevokeAdminToken(ctx, act, org, id) })
}
