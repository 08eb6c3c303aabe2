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
	Metrics *Metrics // nil: /metrics serves an empty registry
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
	https      bool
	cookie     cookieSpec
	ipLimiter  *app.KeyedLimiter
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
	s := &Server{
		svc: o.Service, cfg: cfg, log: log, metrics: m, demo: o.Demo, pages: pages,
		publicBase: cfg.PublicBaseURL(), https: strings.HasPrefix(cfg.PublicBaseURL(), "https://"),
	}
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
// health, metrics and pages.
func (s *Server) PublicHandler() (http.Handler, error) {
	r, err := s.newEngine()
	if err != nil {
		return nil, err
	}
	r.NoMethod(func(c *gin.Context) {
		s.abortError(c, &app.Error{Code: app.CodeMethodNotAllowed, Message: "method not allowed on this path"})
	})
	r.NoRoute(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, errorBody{Code: app.CodeNotFound, Message: "no such path", RequestID: requestID(c)})
	})
	r.Use(s.capBody())
	signin := r.Group("/", noStore)
	signin.POST("/sso/jwt", s.limitIP(app.CodeRateLimited, s.abortSignInError), s.signInJWT)
	signin.POST("/sso/hmac/token", s.limitIP(app.CodeHMACRateLimited, s.abortError), s.hmacToken)
	signin.POST("/sso/jwt/revoke", s.limitIP(app.CodeRateLimited, s.abortError), s.jwtRevoke)
	signin.POST("/sso/hmac/revoke", s.limitIP(app.CodeHMACRateLimited, s.abortError), s.hmacRevoke)
	// The login step is the browser's: its errors follow the Accept rule.
	signin.GET("/sso/hmac/login", s.limitIP(app.CodeHMACRateLimited, s.abortSignInError), s.hmacLogin)
	signin.POST("/sso/hmac/login", s.limitIP(app.CodeHMACRateLimited, s.abortSignInError), s.hmacLogin)
	signin.GET("/auth/verify", s.verify)
	signin.HEAD("/auth/verify", s.verify)
	signin.GET("/session", s.session)
	signin.POST("/logout", s.logout)
	signin.GET("/", s.home)
	r.GET("/healthz", s.healthz)
	r.GET("/.well-known/jwks.json", s.jwks)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	if s.demo != nil {
		s.demo.routes(s, signin)
	}
	return r, nil
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
