package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"gatehouse/storage/bolt"
)

// openAPISpec is the served document decoded just enough to walk it.
type openAPISpec struct {
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

type specOperation struct {
	RequestBody *struct {
		Content map[string]struct {
			Example json.RawMessage `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Ref     string `json:"$ref"`
		Content map[string]struct {
			Example json.RawMessage `json:"example"`
		} `json:"content"`
	} `json:"responses"`
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

func loadSpec(t *testing.T) (openAPISpec, []byte) {
	t.Helper()
	raw, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var spec openAPISpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	return spec, raw
}

func newSpecValidator(t *testing.T) validator.Validator {
	t.Helper()
	_, raw := loadSpec(t)
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("the OpenAPI document does not build: %v", errs)
	}
	return v
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s (%s): %s", f.FieldPath, f.KeywordLocation, f.Reason)
		}
	}
	return b.String()
}

// TestOpenAPIDocumentIsValid: the document is OpenAPI 3.1 and passes the
// validator library's own check of the document against the 3.1 schema.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	_, raw := loadSpec(t)
	var head struct{ OpenAPI string }
	if err := json.Unmarshal(raw, &head); err != nil || head.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q (%v), want 3.1.0", head.OpenAPI, err)
	}
	v := newSpecValidator(t)
	if ok, errs := v.ValidateDocument(); !ok {
		t.Fatalf("web/openapi.yaml is not a valid OpenAPI 3.1 document:%s", describe(errs))
	}
}

var ginParam = regexp.MustCompile(`:[^/]+`)
var specParam = regexp.MustCompile(`\{[^}/]+\}`)

// TestOpenAPIMatchesRouter: every route the admin router serves is in the
// document, and every documented operation is served. The routes come from
// gin itself, so a route added without documenting it fails here.
func TestOpenAPIMatchesRouter(t *testing.T) {
	f := newFixture(t)
	h, err := f.srv.AdminHandler(OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	engine, ok := h.(*gin.Engine)
	if !ok {
		t.Fatalf("AdminHandler is a %T, not a *gin.Engine", h)
	}
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		served[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{}")] = true
	}
	spec, _ := loadSpec(t)
	documented := map[string]bool{}
	for path, item := range spec.Paths {
		for method := range item {
			if slices.Contains(httpMethods, method) {
				documented[strings.ToUpper(method)+" "+specParam.ReplaceAllString(path, "{}")] = true
			}
		}
	}
	for _, r := range sortedKeys(served) {
		if !documented[r] {
			t.Errorf("%s is served but not in web/openapi.yaml: document it (docs/api.md is rendered from it: go test ./web -run TestAPIDocs -args -update)", r)
		}
	}
	for _, r := range sortedKeys(documented) {
		if !served[r] {
			t.Errorf("%s is in web/openapi.yaml but the admin router does not serve it", r)
		}
	}
	if len(served) < 30 {
		t.Errorf("only %d admin routes found; is Routes() reading the right engine?", len(served))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIExamples checks every example in the document against its own
// schemas with the validator: each request body example as a request to its
// operation, each response example as that operation's answer.
func TestOpenAPIExamples(t *testing.T) {
	v := newSpecValidator(t)
	spec, raw := loadSpec(t)
	var components struct {
		Components struct {
			Responses map[string]struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &components); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, path := range sortedKeys(spec.Paths) {
		concrete := specParam.ReplaceAllStringFunc(path, func(p string) string { return "x" + strings.Trim(p, "{}") })
		for _, method := range sortedKeys(spec.Paths[path]) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			var op specOperation
			if err := json.Unmarshal(spec.Paths[path][method], &op); err != nil {
				t.Fatal(err)
			}
			name := strings.ToUpper(method) + " " + path
			var body []byte
			if op.RequestBody != nil {
				ex := op.RequestBody.Content["application/json"].Example
				if len(ex) == 0 {
					t.Errorf("%s: the request body has no example", name)
				}
				body = ex
			}
			newReq := func() *http.Request {
				var r io.Reader
				if body != nil {
					r = bytes.NewReader(body)
				}
				req := httptest.NewRequest(strings.ToUpper(method), "http://gatehouse"+concrete, r)
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				return req
			}
			if body != nil {
				if ok, errs := v.ValidateHttpRequest(newReq()); !ok {
					t.Errorf("%s: the request example does not match its schema:%s", name, describe(errs))
				}
				checked++
			}
			has2xx := false
			for _, status := range sortedKeys(op.Responses) {
				resp := op.Responses[status]
				content := resp.Content
				if resp.Ref != "" {
					content = components.Components.Responses[strings.TrimPrefix(resp.Ref, "#/components/responses/")].Content
				}
				if strings.HasPrefix(status, "2") {
					has2xx = true
				}
				mt, ok := content["application/json"]
				if !ok {
					continue
				}
				if len(mt.Example) == 0 {
					t.Errorf("%s %s: the JSON answer has no example", name, status)
					continue
				}
				code := 0
				fmt.Sscan(status, &code)
				answer := &http.Response{StatusCode: code, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(bytes.NewReader(mt.Example))}
				if ok, errs := v.ValidateHttpResponse(newReq(), answer); !ok {
					t.Errorf("%s %s: the answer example does not match its schema:%s", name, status, describe(errs))
				}
				checked++
			}
			if !has2xx {
				t.Errorf("%s documents no success answer", name)
			}
		}
	}
	if checked < 60 {
		t.Errorf("only %d examples checked", checked)
	}
}

// TestOpenAPIAgainstRealAnswers drives every documented operation through
// the real admin handler (over a bbolt database) and validates each request
// and each answer against the document; an operation the walk does not
// reach with a 2xx answer fails the test, so the walk grows with the API.
func TestOpenAPIAgainstRealAnswers(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(t, store)
	h, err := f.srv.AdminHandler(OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	v := newSpecValidator(t)
	spec, _ := loadSpec(t)
	templates := map[string]*regexp.Regexp{}
	for path := range spec.Paths {
		parts := specParam.Split(path, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		templates[path] = regexp.MustCompile("^" + strings.Join(parts, "[^/]+") + "$")
	}
	reached := map[string]bool{}
	call := func(method, target string, body any, want int) map[string]any {
		t.Helper()
		var raw []byte
		switch b := body.(type) {
		case nil:
		case string:
			raw = []byte(b)
		default:
			raw, _ = json.Marshal(b)
		}
		newReq := func() *http.Request {
			req := httptest.NewRequest(method, "http://gatehouse"+target, bytes.NewReader(raw))
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newReq())
		if rec.Code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, target, rec.Code, want, rec.Body)
		}
		// A request made to be refused (400) need not match the document;
		// every other one must, and every answer must.
		if want != http.StatusBadRequest {
			if ok, errs := v.ValidateHttpRequest(newReq()); !ok {
				t.Errorf("%s %s: the request does not match the document:%s", method, target, describe(errs))
			}
		}
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/x-ndjson") {
			// The validator reads bodies as one JSON value; check each line.
			for i, line := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n") {
				if !json.Valid([]byte(line)) {
					t.Errorf("%s %s: line %d is not JSON: %q", method, target, i+1, line)
				}
			}
		} else if ok, errs := v.ValidateHttpResponse(newReq(), rec.Result()); !ok {
			t.Errorf("%s %s: the %d answer does not match the document:%s\n%s", method, target, rec.Code, describe(errs), rec.Body)
		}
		if want < 300 {
			path, _, _ := strings.Cut(target, "?")
			for tmpl, re := range templates {
				if re.MatchString(path) {
					if _, ok := spec.Paths[tmpl][strings.ToLower(method)]; ok {
						reached[strings.ToLower(method)+" "+tmpl] = true
					}
				}
			}
		}
		var out map[string]any
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
		}
		return out
	}
	org := "/api/v1/orgs/acme"
	call("GET", "/api/v1/health", nil, 200)
	call("GET", "/api/v1/openapi.json", nil, 200)
	call("POST", "/api/v1/orgs", map[string]any{"id": "beta", "name": "Beta MSSP"}, 201)
	call("POST", "/api/v1/orgs", map[string]any{"name": ""}, 400)
	call("GET", "/api/v1/orgs", nil, 200)
	call("GET", org, nil, 200)
	call("GET", "/api/v1/orgs/nope", nil, 404)

	call("POST", org+"/tenants", map[string]any{"id": "t3", "name": "Three", "redirect_url": "https://dash.example.test/t3",
		"allowed_return_urls": []string{"https://dash.example.test/t3/"}}, 201)
	call("GET", org+"/tenants", nil, 200)
	call("GET", org+"/tenants/t3", nil, 200)
	call("PATCH", org+"/tenants/t3", map[string]any{"name": "Tenant Three"}, 200)
	call("DELETE", org+"/tenants/t3", nil, 204)

	p := call("POST", org+"/partners", map[string]any{"name": "Reseller", "allowed_email_domains": []string{"example.com"},
		"allowed_roles": []string{"readOnly"}, "max_users": 5, "user_provisioning": "jit"}, 201)
	pid, _ := p["id"].(string)
	call("POST", org+"/partners", map[string]any{"name": "Bad", "allowed_source_ips": []string{"10.0.0.0/8", "nope"}}, 400)
	call("POST", org+"/partners", map[string]any{"name": "Reseller"}, 409)
	partner := org + "/partners/" + pid
	call("GET", org+"/partners?active=true", nil, 200)
	call("GET", partner, nil, 200)
	call("PATCH", partner, map[string]any{"allowed_source_ips": []string{"203.0.113.0/24"}, "max_users": nil}, 200)
	call("POST", partner+"/deactivate", nil, 200)
	call("POST", partner+"/reactivate", nil, 200)
	call("POST", partner+"/rotate-secret", nil, 200)
	call("POST", partner+"/rotate-secret", map[string]any{"grace_period_seconds": 0}, 200)
	_, b := keys(t)
	k := call("POST", partner+"/keys", map[string]any{"pem": pubPEM(t, b), "label": "second"}, 201)
	call("GET", partner+"/keys", nil, 200)
	call("DELETE", partner+"/keys/"+k["kid"].(string), nil, 204)

	u := call("POST", org+"/users", map[string]any{"email": "bob@example.com", "name": "Bob", "tenant_id": "t1",
		"role": "readOnly", "partner_sso": true, "partner_id": f.partner.ID}, 201)
	call("GET", org+"/users?q=bob&limit=10", nil, 200)
	call("GET", org+"/users/"+u["id"].(string), nil, 200)
	call("GET", org+"/users?limit=501", nil, 400)

	tok := call("POST", org+"/admin-tokens", map[string]any{"role": "readOnly", "label": "monitoring"}, 201)
	call("GET", org+"/admin-tokens", nil, 200)
	call("DELETE", org+"/admin-tokens/"+tok["id"].(string), nil, 204)

	call("POST", org+"/token-check", map[string]any{"token": f.token(f.claims())}, 200)
	call("GET", org+"/audit?type=partner.&limit=20", nil, 200)
	call("GET", org+"/audit?email=bob@example.com&partner_id="+f.partner.ID+"&request_id=req_x", nil, 200)
	call("GET", "/api/v1/audit/verify", nil, 200)
	call("GET", "/api/v1/audit/export", nil, 200)
	call("GET", "/api/v1/backup", nil, 200)
	call("POST", "/api/v1/rekey", nil, 200)
	call("POST", "/api/v1/signing-keys/rotate", nil, 200)
	call("GET", "/metrics", nil, 200)

	call("DELETE", org+"/users/"+u["id"].(string), nil, 204)
	call("DELETE", partner, nil, 204)

	for path, item := range spec.Paths {
		for method := range item {
			if slices.Contains(httpMethods, method) && !reached[method+" "+path] {
				t.Errorf("%s %s: no real 2xx answer was checked against the document; add it to this walk", strings.ToUpper(method), path)
			}
		}
	}
}
