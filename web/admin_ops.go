package web

import (
	"bufio"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// registerOps adds the operations routes (SPEC §5): admin tokens, audit,
// token check and backup. Authorization is the service's, as everywhere.
func (s *Server) registerOps(api *gin.RouterGroup) {
	api.POST("/orgs/:org/admin-tokens", s.createAdminToken)
	api.GET("/orgs/:org/admin-tokens", s.listAdminTokens)
	api.DELETE("/orgs/:org/admin-tokens/:id", s.revokeAdminToken)

	api.GET("/orgs/:org/audit", s.listAudit)
	api.POST("/orgs/:org/token-check", s.tokenCheck)

	// Operator only: they span every organization.
	api.GET("/audit/verify", s.verifyAudit)
	api.GET("/audit/export", s.exportAudit)
	api.GET("/backup", s.backup)
}

// TokenAuth authenticates bearer admin tokens on the TCP admin listener:
// a missing, malformed, unknown or revoked token is 401 unauthorized, all
// with the same answer and the same work (see app.AuthenticateAdminToken).
func TokenAuth(svc *app.Service) AdminAuth {
	return func(c *gin.Context) (app.Actor, error) {
		return svc.AuthenticateAdminToken(c, c.GetHeader("Authorization"))
	}
}

func (s *Server) createAdminToken(c *gin.Context) {
	var in app.AdminTokenInput
	if s.decode(c, &in) {
		t, err := s.svc.CreateAdminToken(c, actorOf(c), c.Param("org"), in)
		s.respond(c, http.StatusCreated, t, err)
	}
}

func (s *Server) listAdminTokens(c *gin.Context) {
	ts, err := s.svc.ListAdminTokens(c, actorOf(c), c.Param("org"))
	s.respond(c, http.StatusOK, gin.H{"admin_tokens": ts, "next_cursor": ""}, err)
}

func (s *Server) revokeAdminToken(c *gin.Context) {
	s.respond(c, http.StatusNoContent, nil, s.svc.RevokeAdminToken(c, actorOf(c), c.Param("org"), c.Param("id")))
}

func (s *Server) listAudit(c *gin.Context) {
	limit, err := app.ParseLimit(c.Query("limit"))
	if err != nil {
		s.abortError(c, err)
		return
	}
	list, err := s.svc.ListAudit(c, actorOf(c), c.Param("org"), app.AuditFilter{
		Type: c.Query("type"), Since: c.Query("since"), Limit: limit, Cursor: c.Query("cursor"),
		RequestID: c.Query("request_id"), Email: c.Query("email"), PartnerID: c.Query("partner_id"),
	})
	s.respond(c, http.StatusOK, list, err)
}

func (s *Server) tokenCheck(c *gin.Context) {
	var in app.TokenCheckInput
	if s.decode(c, &in) {
		res, err := s.svc.TokenCheck(c, actorOf(c), c.Param("org"), in)
		s.respond(c, http.StatusOK, res, err)
	}
}

func (s *Server) verifyAudit(c *gin.Context) {
	s.noWriteDeadline(c)
	v, err := s.svc.VerifyAudit(c, actorOf(c))
	s.respond(c, http.StatusOK, v, err)
}

// exportAudit streams every event as JSON lines. The authorization is
// decided before the first byte; an error after it can only cut the stream
// short, which the missing final newline (or the verify command) reveals.
func (s *Server) exportAudit(c *gin.Context) {
	if !actorOf(c).FullRights() {
		s.abortError(c, app.Errorf(app.CodeForbidden, "audit export is an operator operation"))
		return
	}
	s.noWriteDeadline(c)
	c.Header("Content-Type", "application/x-ndjson")
	c.Status(http.StatusOK)
	w := bufio.NewWriterSize(c.Writer, 64<<10)
	if _, err := s.svc.ExportAudit(c, actorOf(c), w); err != nil {
		s.log.Error("audit export failed", "request_id", requestID(c), "err", err)
		return
	}
	_ = w.Flush()
}

// backup streams a consistent copy of the database (bbolt Tx.WriteTo).
func (s *Server) backup(c *gin.Context) {
	if !actorOf(c).FullRights() {
		s.abortError(c, app.Errorf(app.CodeForbidden, "backups are an operator operation"))
		return
	}
	s.noWriteDeadline(c)
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="gatehouse.db"`)
	c.Status(http.StatusOK)
	n, err := s.svc.Backup(c, actorOf(c), c.Writer)
	if err != nil {
		// Headers are gone; cutting the stream short makes the client's
		// consistency check fail rather than keep a truncated copy.
		s.log.Error("backup failed", "request_id", requestID(c), "bytes", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup served", "request_id", requestID(c), "bytes", n)
}

// noWriteDeadline lifts the listener's write timeout for a long stream
// (a large backup or export may take longer than 30 s).
func (s *Server) noWriteDeadline(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
}
