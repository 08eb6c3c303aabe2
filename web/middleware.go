package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

const requestIDKey = "request_id"

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// requestIDs gives every request a random id, echoed in X-Request-ID and in
// every error body, so an operator can find a user's failure in the logs.
func requestIDs() gin.HandlerFunc {
	return func(c *gin.Context) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
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
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		s.log.Info("request", "method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
			"took", time.Since(start).Round(time.Microsecond).String(), "client_ip", c.ClientIP(), "request_id", requestID(c))
	}
}

// securityHeaders sets the headers every response carries (SPEC §4.2).
func (s *Server) securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		if s.https {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		c.Next()
	}
}

// noStore marks sign-in, session and admin answers uncacheable.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Next()
}
