package web

import (
	"net/http"
	"testing"
)

// requestSessionToken must pick the same cookie net/http would (the first
// well-formed one of that name, across every Cookie header) and never a
// cookie whose name merely starts with ours or a value we could not have
// issued.
func TestRequestSessionToken(t *testing.T) {
	const name = "gatehouse_session"
	cases := []struct {
		headers []string
		want    string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"gatehouse_session=abc_-9Z"}, "abc_-9Z"},
		{[]string{"a=1; gatehouse_session=tok; b=2"}, "tok"},
		{[]string{"a=1;gatehouse_session=tok"}, "tok"},
		{[]string{"  gatehouse_session=tok  "}, "tok"},
		{[]string{"a=1", "gatehouse_session=second-header"}, "second-header"},
		{[]string{"gatehouse_session=first; gatehouse_session=second"}, "first"},
		{[]string{"gatehouse_session2=x; xgatehouse_session=y"}, ""},
		{[]string{"Gatehouse_Session=x"}, ""},                           // names are case-sensitive
		{[]string{"gatehouse_session="}, ""},                            // empty
		{[]string{"gatehouse_session"}, ""},                             // no value
		{[]string{`gatehouse_session="quoted"`}, ""},                    // not a token we issue
		{[]string{"gatehouse_session=a%2Bb"}, ""},                       // percent-escapes are not unescaped into a token
		{[]string{"gatehouse_session=a b; gatehouse_session=ok"}, "ok"}, // a malformed one is skipped
		{[]string{"gatehouse_session=tok=more"}, ""},
	}
	for _, tc := range cases {
		r := &http.Request{Header: http.Header{}}
		for _, h := range tc.headers {
			r.Header.Add("Cookie", h)
		}
		if got := requestSessionToken(r, name); got != tc.want {
			t.Errorf("Cookie %q: got %q, want %q", tc.headers, got, tc.want)
		}
	}
}

func TestHeaderSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"Ada Lovelace":                 "Ada Lovelace",
		"Zoë":                          "Zoë",
		"a\r\nX-Gatehouse-Role: admin": "aX-Gatehouse-Role: admin",
		"tab\there\x7f":                "tabhere",
	} {
		if got := headerSafe(in); got != want {
			t.Errorf("headerSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
