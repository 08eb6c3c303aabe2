package tui

import (
	"testing"
)

func TestAuditListsFiltersAndOpensEvents(t *testing.T) {
	svc := newService(t)
	registerPartner(t, svc)
	d := drive(t, newModel(svc))
	d.keys("5")
	contains(t, d.view(), "partner.create", "tenant.create", "org.create", "every type")
	d.keys("f")
	contains(t, d.view(), "type signin.")
	d.keys("f")
	v := d.view()
	contains(t, v, "type partner.", "partner.create")
	a := d.m.screens[4].(*audit)
	if len(a.events) != 1 {
		t.Fatalf("partner. filter: %d events", len(a.events))
	}
	d.keys("enter")
	contains(t, d.view(), "partner.create", "actor      operator", "outcome    success", "Details")
	d.keys("esc")
	d.keys("t")
	d.typeText("tenant.create")
	d.keys("enter")
	if len(a.events) != 2 {
		t.Fatalf("tenant.create filter: %d events", len(a.events))
	}
	d.keys("esc")
	contains(t, d.view(), "every type")
}
