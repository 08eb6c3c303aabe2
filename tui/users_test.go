package tui

import (
	"testing"

	"gatehouse/app"
)

func TestUsersPagingTenantFilterAndProfile(t *testing.T) {
	_, d := driveWithUsers(t, 250)
	d.keys("4")
	contains(t, d.view(), "all tenants · page 1 (1–100) · ] next", "user00001@example.com")
	d.keys("]", "]")
	contains(t, d.view(), "page 3 (201–250)")
	d.keys("]")
	contains(t, d.view(), "this is the last page")
	d.keys("[")
	contains(t, d.view(), "page 2 (101–200)", "user00101@example.com")

	d.keys("f")
	contains(t, d.view(), "tenant Tenant One (t1) · page 1", "user00001@example.com")
	if u := d.m.screens[3].(*users); len(u.page) != 100 || u.page[1].TenantID != "t1" {
		t.Fatalf("filter: %d users, second in %s", len(u.page), u.page[1].TenantID)
	}
	d.keys("f", "f")
	contains(t, d.view(), "all tenants")

	d.keys("down", "enter")
	contains(t, d.view(), "User 00002 <user00002@example.com>", "Partner SSO   yes", "tenant        Tenant Two (t2)",
		"role          readOnly", "last sign-in  never", "sessions      0 active")
	d.keys("esc")
	contains(t, d.view(), "EMAIL")
}

func TestUsersSearchAsYouTypeDropsStaleAnswers(t *testing.T) {
	_, d := driveWithUsers(t, 30)
	d.keys("4", "/")
	u := d.m.screens[3].(*users)
	// An answer for an old query arriving late changes nothing.
	before := len(u.page)
	d.send(doneMsg{usersMsg{seq: u.seq - 1, list: app.UserList{Users: []app.UserView{}}}})
	if len(u.page) != before {
		t.Fatal("a stale answer replaced the page")
	}
	d.typeText("00017")
	contains(t, d.view(), "page 1 (1–1)", "user00017@example.com")
	d.keys("esc", "esc")
	contains(t, d.view(), "page 1 (1–30)")
}

func TestUsersDeleteConfirmationNamesUserAndCanBeRefused(t *testing.T) {
	svc, d := driveWithUsers(t, 3)
	d.keys("4", "d")
	contains(t, d.view(), "Delete user User 00001 <user00001@example.com>")
	d.keys("n")
	if userCount(t, svc) != 3 {
		t.Fatal("n deleted the user")
	}
	d.keys("d", "y")
	contains(t, d.view(), "user user00001@example.com deleted")
	if userCount(t, svc) != 2 {
		t.Fatal("y did not delete the user")
	}
}
