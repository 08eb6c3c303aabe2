package main

import (
	"time"

	"github.com/spf13/pflag"

	"gatehouse/app"
	"gatehouse/storage"
)

// auditFilterFlags are the filters `audit list` and `audit export` share
// (SPEC §5), defined once so the two commands cannot drift apart.
type auditFilterFlags struct {
	app.AuditFilter
	flags *pflag.FlagSet
}

func addAuditFilterFlags(f *pflag.FlagSet) *auditFilterFlags {
	a := &auditFilterFlags{flags: f}
	f.StringVar(&a.RequestID, "request-id", "", "the request id of a sign-in or admin answer")
	f.StringVar(&a.Email, "email", "", "the user's email (any case)")
	f.StringVar(&a.PartnerID, "partner", "", "the partner's ID")
	f.StringVar(&a.Type, "type", "", `event type, or a prefix ending in "." (signin.)`)
	f.StringVar(&a.Since, "since", "", "an RFC 3339 time, or a duration back from now (24h)")
	return a
}

// query validates the filters (a bad value is a usage error, exit 2) and
// resolves --since against now.
func (a *auditFilterFlags) query(now time.Time) (storage.AuditQuery, error) {
	q := storage.AuditQuery{Type: a.Type, RequestID: a.RequestID, Email: a.Email, PartnerID: a.PartnerID}
	for _, p := range []struct {
		flag, value string
		max         int
	}{{"--type", a.Type, 64}, {"--request-id", a.RequestID, 128}, {"--email", a.Email, 320}, {"--partner", a.PartnerID, 128}, {"--since", a.Since, 64}} {
		// An empty value given on purpose is a typo or an unset shell
		// variable (--request-id "$RID"): filtering on nothing would list
		// every event as if it matched.
		if p.value == "" && a.flags != nil && a.flags.Changed(p.flag[2:]) {
			return q, usageErrorf("%s is empty: give a value, or leave the flag out to list every event", p.flag)
		}
		if len(p.value) > p.max || hasSpaceOrControl(p.value) {
			return q, usageErrorf("%s must be at most %d characters with no spaces, got %q", p.flag, p.max, p.value)
		}
	}
	if a.Since != "" {
		if t, err := time.Parse(time.RFC3339, a.Since); err == nil {
			q.Since = t
		} else if d, err := time.ParseDuration(a.Since); err == nil && d > 0 {
			q.Since = now.Add(-d)
		} else {
			return q, usageErrorf("--since must be an RFC 3339 time or a positive duration such as 24h, got %q", a.Since)
		}
	}
	return q, nil
}

func (a *auditFilterFlags) any() bool {
	return a.Type != "" || a.Since != "" || a.RequestID != "" || a.Email != "" || a.PartnerID != ""
}

func hasSpaceOrControl(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return true
		}
	}
	return false
}
