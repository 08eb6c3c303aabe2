// Package tui is `gatehouse console`: a keyboard-driven Bubble Tea console
// for the operator of a Gatehouse appliance. It owns the screens (overview,
// tenants, partners and their keys, users, audit, token check), the key map
// and the styles, and nothing else: every action is a call on an app.Admin,
// which is either the in-process *app.Service (the console opened the
// database itself) or the admin socket client (a server is running). The
// console does not know which; validation, audit events and permissions are
// the service's.
package tui
