package tui

import (
	"testing"
)

func TestOverviewShowsIDsCountsAndHealth(t *testing.T) {
	svc := newService(t)
	seedUsers(t, svc, 3)
	d := drive(t, newModel(svc))
	v := d.view()
	t.Log("\n" + v)
	contains(t, v, "organizationId  acme", "tenantId t1", "tenantId t2", "2 tenants · 0 partners (0 active) · 0 keys · 3 users",
		"database ok", "version v-test", ModeDirect)
}
