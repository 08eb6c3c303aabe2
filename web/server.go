package web

import (
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// Options configure a Server.
type Options struct {
	Service *app.Service
	Logger  *slog.Logger
	Metrics *Metrics // nil: a registry of this server's own counters
	// Demo, when set, adds the /demo partner-portal pages.
	Demo *Demo
}

// Server holds the handlers of both listeners.
type Server struct {
	svc        *app.Service
	cfg        app.Config
	log        *slog.Logger
	metrics    *Metrics
	demo       *Demo
	pages      *template.Template
	publicBase string
	// publicOrigin is publicBase as a browser's Origin header spells it.
	publicOrigin string
	https        bool
	cookie       cookieSpec
	ipLimiter    *app.KeyedLimiter
}

// New builds a Server.
func New(o Options) (*Server, error) {
	gin.SetMode(gin.ReleaseMode)
	cfg := o.Service.Config()
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	m.registerBuildInfo(o.Service.Version())
	s := &Server{
		svc: o.Service, cfg: cfg, log: log, metrics: m, demo: o.Demo, pages: pages,
		publicBase: cfg.PublicBaseURL(), https: strings.HasPrefix(cfg.PublicBaseURL(), "https://"),
	}
	s.publicOrigin = siteOrigin(s.publicBase)
	s.cookie = newCookieSpec(cfg)
	s.ipLimiter = app.NewKeyedLimiter(cfg.RateLimit.SigninPerIP, 100000, nil)
	return s, nil
}

func (s *Server) newEngine() (*gin.Engine, error) {
	r := gin.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.RemoveExtraSlash = false
	r.ContextWithFallback = true
	var proxies []string
	if len(s.cfg.Server.TrustedProxies) > 0 {
		proxies = s.cfg.Server.TrustedProxies
	}
	if err := r.SetTrustedProxies(proxies); err != nil {
		return nil, err
	}
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	r.Use(requestIDs(), s.recovery(), s.accessLog(), s.securityHeaders())
	return r, nil
}

// PublicHandler serves server.listen: sign-in, sessions, forward-auth,
// health and pages. Never metrics: their labels name organizations,
// tenants, partners and kids (SPEC §4.4).
func (s *Server) PublicHandler() (http.Handler, error) {
	r, err := s.newEngine()
	if err != nil {
		return nil, err
	}
	r.NoMethod(func(c *gin.Context) {
		s.abortPublicMiss(c, &app.Error{Code: app.CodeMethodNotAllowed, Message: "method not allowed on this path"}, "This address does not take that request")
	})
	r.NoRoute(func(c *gin.Context) {
		s.abortPublicMiss(c, &app.Error{Code: app.CodeNotFound, Message: "no such path"}, "Page not found")
	})
	r.Use(s.capBody())
	signin := r.Group("/", noStore)
	sso := signin.Group("/", noteSignIn) // their request lines carry code and ids
	sso.POST("/sso/jwt", s.limitIP(app.CodeRateLimited, s.abortSignInError), s.signInJWT)
	sso.POST(pathHMACToken, s.limitIP(app.CodeHMACRateLimited, s.abortError), s.hmacToken)
	sso.POST(pathJWTRevoke, s.limitIP(app.CodeRateLimited, s.abortError), s.jwtRevoke)
	sso.POST(pathHMACRevoke, s.limitIP(app.CodeHMACRateLimited, s.abortError), s.hmacRevoke)
	// The login step is the browser's: its errors follow the Accept rule.
	sso.GET("/sso/hmac/login", s.limitIP(app.CodeHMACRateLimited, s.abortSignInError), s.hmacLogin)
	sso.POST("/sso/hmac/login", s.limitIP(app.CodeHMACRateLimited, s.abortSignInError), s.hmacLogin)
	signin.GET(forwardAuthPath, s.verify)
	signin.HEAD(forwardAuthPath, s.verify)
	signin.GET("/session", s.session)
	signin.POST("/logout", s.logout)
	signin.GET("/", s.home)
	r.GET("/healthz", s.healthz)
	r.GET("/.well-known/jwks.json", s.jwks)
	r.GET("/readyz", s.readyz)
	if s.demo != nil {
		s.demo.routes(s, signin)
	}
	return r, nil
}

// MetricsHandler serves server.metrics_listen: GET /metrics and nothing
// else. Bind it to loopback or a private network: anyone who reaches it
// reads the metric labels.
func (s *Server) MetricsHandler() http.Handler {
	metrics := s.metrics.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/metrics":
			http.NotFound(w, r)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		default:
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Cache-Control", "no-store")
			metrics.ServeHTTP(w, r)
		}
	})
	return mux
}

// Server-to-server routes answer JSON always, whatever Accept says (SPEC §4.4).
const (
	pathHMACToken  = "/sso/hmac/token"
	pathJWTRevoke  = "/sso/jwt/revoke"
	pathHMACRevoke = "/sso/hmac/revoke"
)

var serverToServer = map[string]bool{pathHMACToken: true, pathJWTRevoke: true, pathHMACRevoke: true}

// abortPublicMiss answers a request no public route takes (404, 405): JSON
// on the server-to-server paths, else per the Accept rule.
func (s *Server) abortPublicMiss(c *gin.Context, err error, heading string) {
	if serverToServer[c.Request.URL.Path] {
		s.abortError(c, err)
		return
	}
	s.abortNegotiated(c, err, heading, "")
}

// ServerTimeouts bound slow clients (slowloris) on every listener.
func ServerTimeouts(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}
