package web

import (
	"strconv"
	"strings"
)

// prefersHTML reports whether an Accept header ranks text/html above
// application/json. Equal preference (e.g. "*/*") means JSON: scripts and
// curl get JSON, a person's browser gets a page.
func prefersHTML(accept string) bool {
	if accept == "" {
		return false
	}
	return quality(accept, "text", "html") > quality(accept, "application", "json")
}

// quality is the q-value the most specific matching media range gives type/sub.
func quality(accept, typ, sub string) float64 {
	best, bestSpecificity := 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mediaRange := strings.ToLower(strings.TrimSpace(fields[0]))
		t, st, ok := strings.Cut(mediaRange, "/")
		if !ok {
			continue
		}
		specificity := -1
		switch {
		case t == typ && st == sub:
			specificity = 2
		case t == typ && st == "*":
			specificity = 1
		case t == "*" && st == "*":
			specificity = 0
		}
		if specificity < bestSpecificity || specificity < 0 {
			continue
		}
		q := 1.0
		for _, param := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
		}
		best, bestSpecificity = q, specificity
	}
	return best
}
