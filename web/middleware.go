package web

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// forwardAuthPath is the route a proxy calls on every request it guards.
const forwardAuthPath = "/auth/verify"

// headerRequestID is X-Request-ID in canonical form: the request id lives
// only in the response header, so a request needs no gin context map (an
// allocation and a map insert on every forward-auth check).
const headerRequestID = "X-Request-Id"

func requestID(c *gin.Context) string {
	if v := c.Writer.Header()[headerRequestID]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// requestIDs gives every request a random id, echoed in X-Request-ID and in
// every error body, so an operator can find a user's failure in the logs.
func requestIDs() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Writer.Header()[headerRequestID] = []string{newRequestID()}
		c.Next()
	}
}

// requestIDSources are ChaCha8 generators, each seeded from crypto/rand: a
// request id is as unpredictable as one read from crypto/rand, without its
// system call and locking on every request (a proxy's forward-auth check
// is one request per page load).
var requestIDSources = sync.Pool{New: func() any {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		panic("request ids: no system randomness: " + err.Error())
	}
	return mrand.NewChaCha8(seed)
}}

// newRequestID is 16 lowercase hex digits (64 random bits).
func newRequestID() string {
	src := requestIDSources.Get().(*mrand.ChaCha8)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], src.Uint64())
	requestIDSources.Put(src)
	return hex.EncodeToString(b[:])
}

// recovery turns a panic into a generic 500; the log gets the stack but no
// request data (which may hold a token).
func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler { // a stream cut short on purpose (backup)
					panic(r)
				}
				s.log.Error("panic in handler", "request_id", requestID(c), "path", c.FullPath(), "stack", string(debug.Stack()))
				c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Code: app.CodeInternal, Message: "internal error", RequestID: requestID(c)})
			}
		}()
		c.Next()
	}
}

// accessLog logs each request by path only: queries can carry login tokens.
// Durations are numbers (duration_ms), so JSON logs can be summed and
// compared; sign-in and revoke lines add their code and ids (signin_log.go).
//
// Forward-auth checks that succeed or are refused (2xx–4xx) log at
// log.forward_auth_level, debug by default: a proxy calls /auth/verify on
// every page load of every dashboard, so at info they would bury the
// sign-ins and admin changes, and formatting the line was a tenth of the
// check's cost. Their failures (5xx) stay at info, and counts are in the
// metrics. A disabled level costs no formatting.
func (s *Server) accessLog() gin.HandlerFunc {
	faLevel, faOff := forwardAuthLevel(s.cfg.Log.ForwardAuthLevel)
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status < 500 && c.FullPath() == forwardAuthPath {
			if faOff {
				return
			}
			level = faLevel
		}
		ctx := c.Request.Context()
		if !s.log.Enabled(ctx, level) {
			return
		}
		var buf [10]slog.Attr
		attrs := append(buf[:0], slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
			slog.Int("status", status), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("client_ip", c.ClientIP()), slog.String("request_id", requestID(c)))
		s.log.LogAttrs(ctx, level, "request", appendSignInAttrs(c, attrs)...)
	}
}

// Header values every response shares. Assigning them by canonical key
// skips Header.Set's canonicalisation and a slice per header per request;
// each has len == cap, so a later Add on the same key copies instead of
// writing into the shared array.
var (
	hdrNosniff    = []string{"nosniff"}
	hdrNoReferrer = []string{"no-referrer"}
	hdrCSP        = []string{"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}
	hdrDeny       = []string{"DENY"}
	hdrHSTS       = []string{"max-age=31536000"}
	hdrNoStore    = []string{"no-store"}
)

// securityHeaders sets the headers every response carries (SPEC §4.2).
func (s *Server) securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h["X-Content-Type-Options"] = hdrNosniff
		h["Referrer-Policy"] = hdrNoReferrer
		h["Content-Security-Policy"] = hdrCSP
		h["X-Frame-Options"] = hdrDeny
		if s.https {
			h["Strict-Transport-Security"] = hdrHSTS
		}
		c.Next()
	}
}

// noStore marks sign-in, session and admin answers uncacheable. No
// Pragma: it has no meaning in a response (RFC 9111 §5.4), and every
// answer of forward-auth would carry its bytes.
func noStore(c *gin.Context) {
	c.Writer.Header()["Cache-Control"] = hdrNoStore
	c.Next()
}
