package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsListenersBinary is issue 10 item 9 against the built binary:
// the public listener serves no /metrics; server.metrics_listen and the
// admin socket do, with the build info and store commit metrics.
func TestMetricsListenersBinary(t *testing.T) {
	metricsAddr := FreePort(t)
	s := startConfigured(t, func(listen, dir, socket string) string {
		return fmt.Sprintf("[server]\nlisten = %q\npublic_url = %q\nmetrics_listen = %q\n\n[storage]\ndir = %q\n\n[admin]\nsocket = %q\n\n[ratelimit]\nsignin_per_ip = 0\n",
			listen, "http://"+listen, metricsAddr, dir, socket)
	})
	w := s.Seed()
	signInCookie(t, s, w.Sign(t, "t1", "ann@example.com", "readOnly"))

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/metrics", "/metrics/", "/debug/metrics", "/api/v1/metrics"} {
		if code, body := get(s.Base + p); code != http.StatusNotFound || strings.Contains(body, "gatehouse_") {
			t.Errorf("public %s: %d %.100q", p, code, body)
		}
	}
	code, viaListener := get("http://" + metricsAddr + "/metrics")
	if code != 200 {
		t.Fatalf("metrics_listen: %d", code)
	}
	code, viaSocket := s.API("GET", "/metrics", nil)
	if code != 200 {
		t.Fatalf("admin socket /metrics: %d", code)
	}
	for name, out := range map[string]string{"metrics_listen": viaListener, "admin socket": string(viaSocket)} {
		for _, want := range []string{`gatehouse_build_info{goversion="go`, `gatehouse_signins_total{code="",method="jwt",outcome="success"} 1`,
			"gatehouse_store_commit_requests_count", "gatehouse_store_commit_duration_seconds_bucket", `gatehouse_users{org="acme",tenant="t1"} 1`} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %s", name, want)
			}
		}
	}
	if code, _ := get("http://" + metricsAddr + "/api/v1/orgs"); code != http.StatusNotFound {
		t.Errorf("metrics_listen serves more than /metrics: %d", code)
	}
}
