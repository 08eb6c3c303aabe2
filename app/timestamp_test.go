package app

import (
	"strings"
	"testing"
	"time"
)

// TestParseRFC3339Grammar: exactly the date-time of RFC 3339 §5.6 as SPEC
// §4.3 fixes it; everything time.Parse would also take but the grammar does
// not (comma fractions, +24:00, one-digit fields, no offset) is refused.
func TestParseRFC3339Grammar(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	accepted := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-22T10:00:00Z", utc(2026, 11, 22, 10, 0, 0, 0)},
		{"2026-11-22t10:00:00z", utc(2026, 11, 22, 10, 0, 0, 0)},
		{"2026-11-22T10:00:00.123456+00:00", utc(2026, 11, 22, 10, 0, 0, 123456000)},
		{"2026-11-22T10:00:00.1Z", utc(2026, 11, 22, 10, 0, 0, 100000000)},
		{"2026-11-22T10:00:00.123456789Z", utc(2026, 11, 22, 10, 0, 0, 123456789)},
		{"2026-11-22T10:00:00-00:00", utc(2026, 11, 22, 10, 0, 0, 0)},
		{"2026-11-22T12:30:00+02:30", utc(2026, 11, 22, 10, 0, 0, 0)},
		{"2026-11-22T00:00:00+23:59", utc(2026, 11, 21, 0, 1, 0, 0)},
		{"2026-11-21T23:00:00-23:59", utc(2026, 11, 22, 22, 59, 0, 0)},
		{"2024-02-29T00:00:00Z", utc(2024, 2, 29, 0, 0, 0, 0)},
		{"2000-02-29T00:00:00Z", utc(2000, 2, 29, 0, 0, 0, 0)},
		{"2016-12-31T23:59:60Z", utc(2017, 1, 1, 0, 0, 0, 0)},
		{"2016-12-31T18:59:60-05:00", utc(2017, 1, 1, 0, 0, 0, 0)},
		{"9999-12-31T23:59:59Z", utc(9999, 12, 31, 23, 59, 59, 0)},
		{"0001-01-01T00:00:00Z", utc(1, 1, 1, 0, 0, 0, 0)},
		{"0000-01-01T00:00:00Z", utc(0, 1, 1, 0, 0, 0, 0)},
	}
	for _, c := range accepted {
		got, ok := parseRFC3339(c.in)
		if !ok || !got.Equal(c.want) {
			t.Errorf("%q → %v %v, want %v", c.in, got, ok, c.want)
		}
	}
	refused := []string{
		"", "2026-11-22", "2026-11-22T10:00:00", "2026-11-22T10:00Z",
		"2026-11-22T10:00:00,123Z",        // comma fraction
		"2026-11-22T10:00:00.Z",           // dot without digits
		"2026-11-22T10:00:00.1234567890Z", // ten fraction digits
		"2026-11-22T10:00:00+24:00",       // offset hour 24
		"2026-11-22T10:00:00+05:60",       // offset minute 60
		"2026-11-22T10:00:00+0500",        // offset without colon
		"2026-11-22T10:00:00+05",          // offset without minutes
		"2026-11-22T10:00:00 Z",           // space
		"2026-11-22 10:00:00Z",            // space for T
		"2026-11-22_10:00:00Z",            // other separator
		"2026-1-22T10:00:00Z",             // one-digit month
		"2026-11-2T10:00:00Z",             // one-digit day
		"2026-11-22T1:00:00Z",             // one-digit hour
		"2026-11-22T10:0:00Z",             // one-digit minute
		"2026-11-22T10:00:0Z",             // one-digit second
		"26-11-22T10:00:00Z",              // two-digit year
		"+2026-11-22T10:00:00Z",           // signed year
		"12026-11-22T10:00:00Z",           // five-digit year
		"2026-13-22T10:00:00Z",            // month 13
		"2026-00-22T10:00:00Z",            // month 0
		"2026-11-31T10:00:00Z",            // 31 November
		"2026-02-29T10:00:00Z",            // not a leap year
		"1900-02-29T10:00:00Z",            // century, not a leap year
		"2026-11-22T24:00:00Z",            // hour 24
		"2026-11-22T10:60:00Z",            // minute 60
		"2026-11-22T10:00:61Z",            // second 61
		"2026-11-22T10:00:60Z",            // leap second not at 23:59 UTC
		"2026-11-22T10:00:00ZZ",           // trailing garbage
		"2026-11-22T10:00:00Z\n",          // trailing newline
		" 2026-11-22T10:00:00Z",           // leading space
		"２０２６-11-22T10:00:00Z",            // full-width digits
		"2026-11-22T10:00:00.١Z",          // Arabic-Indic digit
		"2026-11-22T10:00:00UTC",          // zone name
		"2026-11-22T10:00:00.000000000+00:00x",
		strings.Repeat("9", 40),
	}
	for _, in := range refused {
		if got, ok := parseRFC3339(in); ok {
			t.Errorf("%q accepted as %v", in, got)
		}
	}
}

// TestHMACTimestampToleranceComparesInstants: the window is closed at both
// ends and instants centuries away are outside it; "now" is injected.
func TestHMACTimestampToleranceComparesInstants(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	const tol = 300 * time.Second
	cases := []struct {
		when time.Time
		ok   bool
	}{
		{now, true},
		{now.Add(tol), true},
		{now.Add(-tol), true},
		{now.Add(tol + time.Nanosecond), false},
		{now.Add(-tol - time.Nanosecond), false},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), false},
	}
	for _, c := range cases {
		if got := withinTolerance(c.when, now, tol); got != c.ok {
			t.Errorf("withinTolerance(%v, now=%v) = %v, want %v", c.when, now, got, c.ok)
		}
	}
	if s := clockDiff(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix(), now.Unix()); !strings.Contains(s, "days ahead") {
		t.Errorf("clockDiff for year 9999: %q", s)
	}
}
