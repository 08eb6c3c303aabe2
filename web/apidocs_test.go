package web

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

var updateAPIDocs = flag.Bool("update", false, "rewrite docs/api.md from web/openapi.yaml")

// TestAPIDocs: docs/api.md is rendered from web/openapi.yaml and must be
// up to date (go test ./web -run TestAPIDocs -args -update rewrites it).
func TestAPIDocs(t *testing.T) {
	_, raw := loadSpec(t)
	got, err := renderAPIDocs(raw)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("..", "docs", "api.md")
	if *updateAPIDocs {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (render it: go test ./web -run TestAPIDocs -args -update)", err)
	}
	if string(want) != got {
		t.Fatalf("docs/api.md is not what web/openapi.yaml renders to: go test ./web -run TestAPIDocs -args -update")
	}
}

type obj = map[string]any

func get(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(obj)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func sortedObjKeys(m any) []string {
	mm, _ := m.(obj)
	out := make([]string, 0, len(mm))
	for k := range mm {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// renderAPIDocs turns the OpenAPI document into the Markdown reference.
func renderAPIDocs(raw []byte) (string, error) {
	var doc obj
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", err
	}
	r := &apiRenderer{doc: doc}
	return r.render(), nil
}

type apiRenderer struct {
	doc obj
	b   strings.Builder
}

func (r *apiRenderer) p(format string, a ...any) { fmt.Fprintf(&r.b, format, a...) }

// resolve follows a local $ref ("#/components/...").
func (r *apiRenderer) resolve(v any) (any, string) {
	ref := str(get(v, "$ref"))
	if ref == "" {
		return v, ""
	}
	parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	return get(r.doc, parts...), parts[len(parts)-1]
}

type apiOp struct {
	method, path string
	op           obj
	params       []any
}

func (r *apiRenderer) operations() map[string][]apiOp {
	byTag := map[string][]apiOp{}
	paths := get(r.doc, "paths")
	for _, path := range sortedObjKeys(paths) {
		item := get(paths, path).(obj)
		shared, _ := item["parameters"].([]any)
		for _, m := range []string{"get", "post", "patch", "put", "delete"} {
			op, ok := item[m].(obj)
			if !ok {
				continue
			}
			own, _ := op["parameters"].([]any)
			tag := "other"
			if tags, _ := op["tags"].([]any); len(tags) > 0 {
				tag = str(tags[0])
			}
			byTag[tag] = append(byTag[tag], apiOp{method: strings.ToUpper(m), path: path, op: op, params: append(slices.Clone(shared), own...)})
		}
	}
	return byTag
}

func anchor(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		case c == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func (r *apiRenderer) render() string {
	r.p("# Admin API reference\n\n")
	r.p("<!-- Rendered from web/openapi.yaml by `go test ./web -run TestAPIDocs -args -update`; edit that file, not this one. -->\n\n")
	r.p("%s\n", strings.TrimSpace(str(get(r.doc, "info", "description"))))
	r.p("\nThe document itself: `gatehouse api GET /api/v1/openapi.json` (OpenAPI %s).\n", str(r.doc["openapi"]))
	byTag := r.operations()
	var tags []string
	for _, t := range get(r.doc, "tags").([]any) {
		tags = append(tags, str(get(t, "name")))
	}
	r.p("\n## Routes\n\n| Method | Path | What it does |\n|---|---|---|\n")
	for _, tag := range tags {
		for _, o := range byTag[tag] {
			r.p("| %s | [`%s`](#%s) | %s |\n", o.method, o.path, anchor(o.method+" "+o.path), str(o.op["summary"]))
		}
	}
	for _, tag := range tags {
		r.p("\n## %s\n", strings.ToUpper(tag[:1])+tag[1:])
		if d := str(r.tagDescription(tag)); d != "" {
			r.p("\n%s\n", d)
		}
		for _, o := range byTag[tag] {
			r.renderOp(o)
		}
	}
	r.p("\n## Schemas\n")
	schemas := get(r.doc, "components", "schemas")
	for _, name := range sortedObjKeys(schemas) {
		r.p("\n### %s\n\n", name)
		r.renderSchema(get(schemas, name))
	}
	return r.b.String()
}

func (r *apiRenderer) tagDescription(tag string) any {
	for _, t := range get(r.doc, "tags").([]any) {
		if str(get(t, "name")) == tag {
			return get(t, "description")
		}
	}
	return nil
}

func (r *apiRenderer) renderOp(o apiOp) {
	r.p("\n### %s %s\n\n", o.method, o.path)
	r.p("%s.", str(o.op["summary"]))
	if d := strings.TrimSpace(str(o.op["description"])); d != "" {
		r.p(" %s", d)
	}
	r.p("\n")
	if len(o.params) > 0 {
		r.p("\n| Parameter | In | Type | Description |\n|---|---|---|---|\n")
		for _, p := range o.params {
			p, _ = r.resolve(p)
			req := ""
			if get(p, "required") == true {
				req = " (required)"
			}
			r.p("| `%s` | %s | %s | %s%s |\n", str(get(p, "name")), str(get(p, "in")), r.typeOf(get(p, "schema")), str(get(p, "description")), req)
		}
	}
	if body := get(o.op, "requestBody"); body != nil {
		content := get(body, "content", "application/json")
		optional := ""
		if get(body, "required") != true {
			optional = " (optional)"
		}
		r.p("\nRequest body%s: %s\n", optional, r.typeOf(get(content, "schema")))
		r.example(get(content, "example"))
	}
	r.p("\n| Status | Answer |\n|---|---|\n")
	responses := get(o.op, "responses")
	for _, status := range sortedObjKeys(responses) {
		resp, _ := r.resolve(get(responses, status))
		desc := str(get(resp, "description"))
		var types []string
		for _, mt := range sortedObjKeys(get(resp, "content")) {
			if mt == "application/json" {
				types = append(types, r.typeOf(get(resp, "content", mt, "schema")))
			} else {
				types = append(types, "`"+mt+"`")
			}
		}
		if len(types) > 0 {
			desc += " " + strings.Join(types, ", ")
		}
		r.p("| %s | %s |\n", status, strings.TrimSpace(desc))
	}
	for _, status := range sortedObjKeys(responses) {
		if strings.HasPrefix(status, "2") {
			resp, _ := r.resolve(get(responses, status))
			if ex := get(resp, "content", "application/json", "example"); ex != nil {
				r.p("\nExample answer (%s):\n", status)
				r.example(ex)
			}
			break
		}
	}
}

func (r *apiRenderer) example(v any) {
	if v == nil {
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	r.p("\n```json\n%s\n```\n", b)
}

// typeOf names a schema briefly: a link to a named schema, or its type.
func (r *apiRenderer) typeOf(s any) string {
	if ref := str(get(s, "$ref")); ref != "" {
		name := ref[strings.LastIndex(ref, "/")+1:]
		return "[" + name + "](#" + anchor(name) + ")"
	}
	if all, ok := get(s, "allOf").([]any); ok {
		var parts []string
		for _, a := range all {
			parts = append(parts, r.typeOf(a))
		}
		return strings.Join(parts, " + ")
	}
	var t string
	switch v := get(s, "type").(type) {
	case string:
		t = v
	case []any:
		var ts []string
		for _, x := range v {
			ts = append(ts, str(x))
		}
		t = strings.Join(ts, " or ")
	default:
		if get(s, "properties") != nil {
			t = "object"
		}
	}
	if strings.HasPrefix(t, "array") {
		t = strings.Replace(t, "array", "array of "+r.typeOf(get(s, "items")), 1)
	}
	if t == "object" && get(s, "properties") != nil {
		var fields []string
		for _, k := range sortedObjKeys(get(s, "properties")) {
			fields = append(fields, "`"+k+"`: "+r.typeOf(get(s, "properties", k)))
		}
		t = "object {" + strings.Join(fields, ", ") + "}"
	}
	if enum, ok := get(s, "enum").([]any); ok {
		var vs []string
		for _, e := range enum {
			vs = append(vs, fmt.Sprintf("`%v`", e))
		}
		t += " (" + strings.Join(vs, ", ") + ")"
	}
	if t == "" {
		t = "any"
	}
	return t
}

func (r *apiRenderer) renderSchema(s any) {
	if d := strings.TrimSpace(str(get(s, "description"))); d != "" {
		r.p("%s\n\n", d)
	}
	if all, ok := get(s, "allOf").([]any); ok {
		var parts []string
		var own []any
		for _, a := range all {
			if get(a, "$ref") != nil {
				parts = append(parts, r.typeOf(a))
			} else {
				own = append(own, a)
			}
		}
		if len(parts) > 0 {
			r.p("All the fields of %s, and:\n\n", strings.Join(parts, ", "))
		}
		for _, o := range own {
			r.renderSchema(o)
		}
		return
	}
	props := get(s, "properties")
	if props == nil {
		r.p("%s\n", r.typeOf(s))
		return
	}
	required := map[string]bool{}
	if req, ok := get(s, "required").([]any); ok {
		for _, x := range req {
			required[str(x)] = true
		}
	}
	r.p("| Field | Type | Description |\n|---|---|---|\n")
	for _, k := range sortedObjKeys(props) {
		p := get(props, k)
		desc := strings.TrimSpace(str(get(p, "description")))
		if required[k] {
			desc = strings.TrimSpace("always present / required. " + desc)
		}
		if def := get(p, "default"); def != nil {
			desc += fmt.Sprintf(" Default `%v`.", def)
		}
		r.p("| `%s` | %s | %s |\n", k, r.typeOf(p), strings.TrimSpace(desc))
	}
}
