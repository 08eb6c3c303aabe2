package web

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatehouse/app"
)

// Metrics are Gatehouse's Prometheus metrics; it implements app.Observer.
type Metrics struct {
	registry    *prometheus.Registry
	signIns     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	forwardAuth *prometheus.CounterVec
	// forwardAuthBy holds forwardAuth's counter of each outcome, looked up
	// once: a label lookup (hash, lock) on every check is wasted work, and
	// every outcome shows from the start, at 0, as Prometheus advises.
	forwardAuthBy map[string]prometheus.Counter
	jwksFailed    *prometheus.CounterVec
	// Store commits (bolt's group commit): transactions, their sizes in
	// write requests, their durations including fsync, and failures.
	commitSize     prometheus.Histogram
	commitDuration prometheus.Histogram
	commitFailures prometheus.Counter

	buildOnce sync.Once

	// keyUses holds the newest use this process saw per org/kid; the store's
	// last_used_at (written at most once a minute) fills in after a restart.
	keyMu   sync.Mutex
	keyUses map[[2]string]time.Time
}

var _ app.Observer = (*Metrics)(nil)

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
			Name: "gatehouse_forward_auth_total", Help: "Forward-auth checks by outcome (allowed, forbidden, unauthenticated, invalid_request, error).",
		}, []string{"outcome"}),
		jwksFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_jwks_refresh_failures_total", Help: "Failed fetches of a partner's jwks_url (the last good set stays in use).",
		}, []string{"partner"}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatehouse_store_commit_requests", Help: "Write requests per store commit (group commit size); _count is the number of commits.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatehouse_store_commit_duration_seconds", Help: "Time of one store commit, fsyncs included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_store_commit_failures_total", Help: "Store commits that failed (every request in them got the error).",
		}),
		keyUses: map[[2]string]time.Time{},
	}
	m.registry.MustRegister(m.signIns, m.latency, m.forwardAuth, m.jwksFailed, m.commitSize, m.commitDuration, m.commitFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range extra {
		m.registry.MustRegister(c)
	}
	m.forwardAuthBy = map[string]prometheus.Counter{}
	for _, outcome := range []string{"allowed", "forbidden", "unauthenticated", "invalid_request", "error"} {
		m.forwardAuthBy[outcome] = m.forwardAuth.WithLabelValues(outcome)
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
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	k := [2]string{orgID, kid}
	if at.After(m.keyUses[k]) {
		m.keyUses[k] = at
	}
}

// JWKSRefreshFailed counts a failed JWKS fetch of a partner.
func (m *Metrics) JWKSRefreshFailed(partnerID string) { m.jwksFailed.WithLabelValues(partnerID).Inc() }

func (m *Metrics) keyUse(orgID, kid string) time.Time {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	return m.keyUses[[2]string{orgID, kid}]
}

func (m *Metrics) countForwardAuth(outcome string) {
	if c, ok := m.forwardAuthBy[outcome]; ok {
		c.Inc()
		return
	}
	m.forwardAuth.WithLabelValues(outcome).Inc()
}

// ObserveCommit records one store commit (storage/bolt's CommitObserver).
func (m *Metrics) ObserveCommit(requests int, took time.Duration, err error) {
	m.commitSize.Observe(float64(requests))
	m.commitDuration.Observe(took.Seconds())
	if err != nil {
		m.commitFailures.Inc()
	}
}

// registerBuildInfo adds gatehouse_build_info{version,goversion} = 1, once
// however many servers share these metrics.
func (m *Metrics) registerBuildInfo(version string) {
	m.buildOnce.Do(func() {
		if version == "" {
			version = "unknown"
		}
		info := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_build_info", Help: "Always 1; the labels name the running build.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		})
		info.Set(1)
		m.registry.MustRegister(info)
	})
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// StatsSource reads the store's gauges (*app.Service).
type StatsSource interface {
	Stats(ctx context.Context) (app.Stats, error)
}

// StatsCacheTTL is how long store gauges are reused between scrapes, so a
// scrape costs a store read at most this often however often it comes.
const StatsCacheTTL = 15 * time.Second

// WatchStore adds the gauges read from the store: active sessions, users per
// tenant and partner key last use. Call it once.
func (m *Metrics) WatchStore(src StatsSource) {
	m.registry.MustRegister(&storeCollector{src: src, m: m, ttl: StatsCacheTTL, now: time.Now})
}

var (
	descSessions = prometheus.NewDesc("gatehouse_active_sessions", "Sessions not yet expired.", nil, nil)
	descUsers    = prometheus.NewDesc("gatehouse_users", "Users per tenant.", []string{"org", "tenant"}, nil)
	descKeyUse   = prometheus.NewDesc("gatehouse_partner_key_last_used_timestamp_seconds",
		"When each partner key last verified a token (0: never).", []string{"org", "kid", "partner"}, nil)
	descStatsErr = prometheus.NewDesc("gatehouse_store_stats_errors_total", "Failed reads of the store gauges.", nil, nil)
)

// storeCollector serves cached store gauges.
type storeCollector struct {
	src StatsSource
	m   *Metrics
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	at      time.Time
	stats   app.Stats
	errs    int
	hasData bool
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSessions
	ch <- descUsers
	ch <- descKeyUse
	ch <- descStatsErr
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if !c.hasData || c.now().Sub(c.at) >= c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.src.Stats(ctx)
		cancel()
		if err != nil {
			c.errs++
		} else {
			c.stats, c.hasData = st, true
		}
		c.at = c.now() // a failing store is retried after ttl too, not on every scrape
	}
	st, errs, ok := c.stats, c.errs, c.hasData
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descStatsErr, prometheus.CounterValue, float64(errs))
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(st.ActiveSessions))
	for _, t := range st.Tenants {
		ch <- prometheus.MustNewConstMetric(descUsers, prometheus.GaugeValue, float64(t.Users), t.OrgID, t.TenantID)
	}
	for _, k := range st.Keys {
		last := k.LastUsedAt
		if seen := c.m.keyUse(k.OrgID, k.Kid); seen.After(last) {
			last = seen
		}
		v := 0.0
		if !last.IsZero() {
			v = float64(last.Unix())
		}
		ch <- prometheus.MustNewConstMetric(descKeyUse, prometheus.GaugeValue, v, k.OrgID, k.Kid, k.PartnerID)
	}
}
