package tui

import (
	"testing"
)

func TestTokenCheckReportsFailingCheck(t *testing.T) {
	d := drive(t, newModel(newService(t)))
	d.keys("6")
	contains(t, d.view(), "writes nothing")
	d.keys("enter")
	d.typeText("not.a.jwt")
	d.keys("enter")
	v := d.view()
	contains(t, v, "✗ FAIL", "InvalidToken", "✗")
	d.keys("esc")
	if d.m.screens[5].(*tokenCheck).result != nil {
		t.Fatal("esc did not clear the result")
	}
}
