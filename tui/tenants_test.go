package tui

import (
	"testing"

	"gatehouse/app"
)

func TestTenantsCreateEditDelete(t *testing.T) {
	svc := newService(t)
	d := drive(t, newModel(svc))
	d.keys("2")
	contains(t, d.view(), "t1", "Tenant One", "https://dash.example.test/t1")

	d.keys("n")
	d.typeText("t3")
	d.keys("tab")
	d.typeText("Tenant Three")
	d.keys("tab")
	d.typeText("https://dash.example.test/t3")
	d.keys("ctrl+s")
	contains(t, d.view(), "tenant t3 created", "Tenant Three")

	// Edit: the selected tenant is t3; a bad URL gets the API's message.
	d.keys("e", "tab")
	d.typeText(" nope")
	d.keys("ctrl+s")
	contains(t, d.view(), "✗ validation_error: redirect_url: not an absolute http(s) URL")
	d.keys("esc")

	d.keys("d")
	contains(t, d.view(), `Delete tenant "Tenant Three" (t3)?`)
	d.keys("y")
	contains(t, d.view(), "tenant t3 deleted")
	if _, err := svc.GetTenant(t.Context(), app.Console, "acme", "t3"); app.ErrorCode(err) != app.CodeNotFound {
		t.Fatalf("t3 still there: %v", err)
	}
}

func TestTenantsDeleteWithUsersIsAConflict(t *testing.T) {
	_, d := driveWithUsers(t, 2)
	d.keys("2", "d", "y")
	contains(t, d.view(), "✗ conflict: tenant t1 still has users")
}

func TestTenantsFilter(t *testing.T) {
	d := drive(t, newModel(newService(t)))
	d.keys("2", "/")
	d.typeText("two")
	v := d.view()
	contains(t, v, "Tenant Two")
	if d.m.screens[1].(*tenants).pick.selected() != 1 {
		t.Fatal("filter did not select t2")
	}
	d.keys("esc")
	if len(d.m.screens[1].(*tenants).pick.shown) != 2 {
		t.Fatal("esc did not clear the filter")
	}
}
