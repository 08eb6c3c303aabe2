package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gatehouse/storage"
)

// TestMatchingLinesAcrossWrites: the socket stream arrives in arbitrary
// chunks; matching lines pass through byte for byte, others are dropped, and
// a stream cut inside an event is an error rather than a silent short export.
func TestMatchingLinesAcrossWrites(t *testing.T) {
	now := time.Now().UTC()
	events := []storage.AuditEvent{
		{Seq: 1, ID: "evt_1", Time: now.Add(-2 * time.Hour), Type: "signin.jwt", OrgID: "acme", Email: "ada@example.com", RequestID: "r1"},
		{Seq: 2, ID: "evt_2", Time: now, Type: "partner.create", OrgID: "acme"},
		{Seq: 3, ID: "evt_3", Time: now, Type: "signin.hmac", OrgID: "beta", Email: "Ada@Example.com", RequestID: "r3"},
	}
	var stream bytes.Buffer
	var lines []string
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b)+"\n")
		stream.Write(append(b, '\n'))
	}
	cases := []struct {
		name  string
		flags auditFilterFlags
		org   string
		want  string
	}{
		{"email any case", auditFilterFlags{}, "", lines[0] + lines[2]},
		{"org", auditFilterFlags{}, "beta", lines[2]},
		{"since", auditFilterFlags{}, "", lines[1] + lines[2]},
	}
	cases[0].flags.Email = "ADA@example.com"
	cases[2].flags.Since = "1h"
	for _, c := range cases {
		q, err := c.flags.query(now)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		q.OrgID = c.org
		for _, chunk := range []int{1, 7, stream.Len()} {
			var out bytes.Buffer
			m := &matchingLines{q: q, w: &out}
			data := stream.Bytes()
			for i := 0; i < len(data); i += chunk {
				if _, err := m.Write(data[i:min(i+chunk, len(data))]); err != nil {
					t.Fatalf("%s chunk %d: %v", c.name, chunk, err)
				}
			}
			if err := m.finish(); err != nil || out.String() != c.want {
				t.Errorf("%s chunk %d: err %v, got\n%s\nwant\n%s", c.name, chunk, err, out.String(), c.want)
			}
		}
	}
	var out bytes.Buffer
	m := &matchingLines{w: &out}
	cut := strings.Join(lines, "")
	cut = cut[:len(cut)-10]
	if _, err := m.Write([]byte(cut)); err != nil {
		t.Fatal(err)
	}
	if err := m.finish(); err == nil {
		t.Fatalf("a stream cut inside an event was accepted")
	}
}
