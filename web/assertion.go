package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// assertion is the X-Gatehouse-Assertion (SPEC §4.6) of a 200 of
// /auth/verify, for the aud parseVerifyQuery validated ("" for none), or ""
// when assertions are off. It reports false when it answered the request
// itself: a signing failure is a 500 without identity headers, so the proxy
// denies rather than passing a request on without the identity it promised.
func (s *Server) assertion(c *gin.Context, id app.Identity, aud string) (string, bool) {
	if !s.cfg.Session.Assertion {
		return "", true
	}
	token, err := s.svc.Assertion(c, id, aud)
	if err != nil {
		s.abortError(c, err)
		return "", false
	}
	return token, true
}

// jwks is GET /.well-known/jwks.json: the public keys a dashboard verifies
// assertions with. Caches may keep it for at most clock_skew, so a rotation
// is seen well inside the overlap during which the replaced key stays listed.
func (s *Server) jwks(c *gin.Context) {
	body, err := s.svc.JWKS(c)
	if err != nil {
		s.abortError(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.SSO.ClockSkew.Seconds())))
	c.Data(http.StatusOK, "application/json", body)
}

// rotateSigningKey is POST /api/v1/signing-keys/rotate (operator only).
func (s *Server) rotateSigningKey(c *gin.Context) {
	out, err := s.svc.RotateSigningKey(c, actorOf(c))
	s.respond(c, http.StatusOK, out, err)
}
