package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// jwtRevoke is POST /sso/jwt/revoke (SPEC §4.5): server to server, so its
// errors are JSON whatever Accept says.
func (s *Server) jwtRevoke(c *gin.Context) {
	form, err := s.readForm(c)
	if err != nil {
		s.abortError(c, err)
		return
	}
	if len(form["token"]) > 1 {
		s.abortError(c, &app.Error{Code: app.CodeInvalidPayload, Message: "token may be given once"})
		return
	}
	res, err := s.svc.RevokeJWT(c, app.JWTRevoke{Token: form.Get("token"), ClientIP: c.ClientIP(), RequestID: requestID(c), Note: signInNote(c)})
	if err != nil {
		s.abortError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// hmacRevoke is POST /sso/hmac/revoke: the headers and signature of
// /sso/hmac/token over a {"email","action","nonce"} body.
func (s *Server) hmacRevoke(c *gin.Context) {
	req, ok := s.hmacRequest(c)
	if !ok {
		return
	}
	res, err := s.svc.RevokeHMAC(c, req)
	if err != nil {
		s.abortError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}
