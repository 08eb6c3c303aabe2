package web

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are Gatehouse's Prometheus metrics; it implements app.Observer.
type Metrics struct {
	registry    *prometheus.Registry
	signIns     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	forwardAuth *prometheus.CounterVec
	keyLastUsed *prometheus.GaugeVec
}

// NewMetrics registers the metrics on a fresh registry; extra collectors
// (gauges that read the store) may be passed in.
func NewMetrics(extra []prometheus.Collector) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signins_total", Help: "Sign-in attempts by method (jwt, hmac), outcome and error code.",
		}, []string{"method", "outcome", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_signin_duration_seconds", Help: "Time to answer a sign-in, by method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"method"}),
		forwardAuth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_forward_auth_total", Help: "Forward-auth checks by outcome (allowed, forbidden, unauthenticated).",
		}, []string{"outcome"}),
		keyLastUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_partner_key_last_used_timestamp_seconds", Help: "When each partner key last verified a token.",
		}, []string{"org", "kid"}),
	}
	m.registry.MustRegister(m.signIns, m.latency, m.forwardAuth, m.keyLastUsed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range extra {
		m.registry.MustRegister(c)
	}
	return m
}

// SignIn records one sign-in attempt.
func (m *Metrics) SignIn(method, outcome, code string, took time.Duration) {
	m.signIns.WithLabelValues(method, outcome, code).Inc()
	m.latency.WithLabelValues(method).Observe(took.Seconds())
}

// KeyUsed records a key's use.
func (m *Metrics) KeyUsed(orgID, kid string, at time.Time) {
	m.keyLastUsed.WithLabelValues(orgID, kid).Set(float64(at.Unix()))
}

func (m *Metrics) countForwardAuth(outcome string) { m.forwardAuth.WithLabelValues(outcome).Inc() }

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
