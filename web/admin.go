package web

import (
	"net/http"

	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

const actorKey = "actor"

// AdminAuth decides who an admin request acts as.
type AdminAuth func(c *gin.Context) (app.Actor, error)

// OperatorAuth is the admin socket's rule: whoever can open the 0600 socket
// is the operator.
func OperatorAuth(*gin.Context) (app.Actor, error) { return app.Operator, nil }

func actorOf(c *gin.Context) app.Actor {
	a, _ := c.Get(actorKey)
	actor, _ := a.(app.Actor)
	return actor
}

// AdminHandler serves the admin API (SPEC §5); auth picks the actor.
func (s *Server) AdminHandler(auth AdminAuth) (http.Handler, error) {
	r, err := s.newEngine()
	if err != nil {
		return nil, err
	}
	// Route on the escaped path, so a path parameter may hold an escaped "/"
	// (%2F): a kid stored by an older release with a "/" in it must still be
	// deletable by DELETE …/keys/{kid}.
	r.UseRawPath = true
	r.UnescapePathValues = true
	r.NoMethod(func(c *gin.Context) {
		s.abortError(c, &app.Error{Code: app.CodeAdminMethodNotAllowed, Message: "method not allowed on this path"})
	})
	r.NoRoute(func(c *gin.Context) {
		s.abortError(c, app.Errorf(app.CodeNotFound, "no such route"))
	})
	r.Use(noStore, s.limitAdminBody())
	r.GET("/api/v1/health", s.adminHealth)
	authenticate := func(c *gin.Context) {
		actor, err := auth(c)
		if err != nil {
			s.abortError(c, err)
			return
		}
		actor.RequestID = requestID(c)
		c.Set(actorKey, actor)
		c.Next()
	}
	// Metrics name every organization, tenant, partner and kid: the
	// operator's (the socket's) only, never an organization's token.
	r.GET("/metrics", authenticate, func(c *gin.Context) {
		if !actorOf(c).FullRights() {
			s.abortError(c, app.Errorf(app.CodeForbidden, "metrics are served to the operator only (the admin socket or server.metrics_listen)"))
			return
		}
		s.metrics.Handler().ServeHTTP(c.Writer, c.Request)
	})
	api := r.Group("/api/v1", authenticate)
	api.POST("/orgs", s.createOrg)
	api.GET("/orgs", s.listOrgs)
	api.GET("/orgs/:org", s.getOrg)

	api.POST("/orgs/:org/tenants", s.createTenant)
	api.GET("/orgs/:org/tenants", s.listTenants)
	api.GET("/orgs/:org/tenants/:id", s.getTenant)
	api.PATCH("/orgs/:org/tenants/:id", s.updateTenant)
	api.DELETE("/orgs/:org/tenants/:id", s.deleteTenant)

	api.POST("/orgs/:org/partners", s.createPartner)
	api.GET("/orgs/:org/partners", s.listPartners)
	api.GET("/orgs/:org/partners/:id", s.getPartner)
	api.PATCH("/orgs/:org/partners/:id", s.updatePartner)
	api.DELETE("/orgs/:org/partners/:id", s.deletePartner)
	api.POST("/orgs/:org/partners/:id/deactivate", s.deactivatePartner)
	api.POST("/orgs/:org/partners/:id/reactivate", s.reactivatePartner)
	api.POST("/orgs/:org/partners/:id/rotate-secret", s.rotateSecret)
	api.POST("/orgs/:org/partners/:id/keys", s.addKey)
	api.GET("/orgs/:org/partners/:id/keys", s.listKeys)
	api.DELETE("/orgs/:org/partners/:id/keys/:kid", s.deleteKey)

	api.GET("/orgs/:org/users", s.listUsers)
	api.POST("/orgs/:org/users", s.createUser)
	api.GET("/orgs/:org/users/:id", s.getUser)
	api.DELETE("/orgs/:org/users/:id", s.deleteUser)

	api.POST("/rekey", s.rekey)
	api.POST("/signing-keys/rotate", s.rotateSigningKey)
	api.GET("/openapi.json", s.openAPI)
	s.registerOps(api)
	return r, nil
}

func (s *Server) limitAdminBody() gin.HandlerFunc {
	const limit = 1 << 20 // PEM keys and policy lists fit easily
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// decode reads a JSON body into v; false means the error was answered.
func (s *Server) decode(c *gin.Context, v any) bool {
	body, err := s.readBody(c)
	if err == nil {
		err = app.DecodeJSON(body, v)
	}
	if err != nil {
		if app.ErrorCode(err) == app.CodeInvalidPayload {
			err = app.Errorf(app.CodeValidation, "could not read the request body")
		}
		s.abortError(c, err)
		return false
	}
	return true
}

// respond answers a service result: the error, or status with v.
func (s *Server) respond(c *gin.Context, status int, v any, err error) {
	if err != nil {
		s.abortError(c, err)
		return
	}
	if status == http.StatusNoContent {
		c.Status(status)
		return
	}
	c.JSON(status, v)
}

func (s *Server) adminHealth(c *gin.Context) {
	status, dbState := http.StatusOK, "ok"
	if err := s.svc.Ready(c); err != nil {
		s.log.Error("admin health: not ready", "err", err)
		status, dbState = http.StatusServiceUnavailable, "error"
	}
	c.JSON(status, gin.H{"status": dbState, "database": dbState, "encryption_keys": dbState, "version": s.svc.Version()})
}

func (s *Server) createOrg(c *gin.Context) {
	var in app.OrgInput
	if s.decode(c, &in) {
		o, err := s.svc.CreateOrg(c, actorOf(c), in)
		s.respond(c, http.StatusCreated, o, err)
	}
}

func (s *Server) listOrgs(c *gin.Context) {
	orgs, err := s.svc.ListOrgs(c, actorOf(c))
	s.respond(c, http.StatusOK, gin.H{"orgs": orgs, "next_cursor": ""}, err)
}

func (s *Server) getOrg(c *gin.Context) {
	o, err := s.svc.GetOrg(c, actorOf(c), c.Param("org"))
	s.respond(c, http.StatusOK, o, err)
}

func (s *Server) createTenant(c *gin.Context) {
	var in app.TenantInput
	if s.decode(c, &in) {
		t, err := s.svc.CreateTenant(c, actorOf(c), c.Param("org"), in)
		s.respond(c, http.StatusCreated, t, err)
	}
}

func (s *Server) listTenants(c *gin.Context) {
	ts, err := s.svc.ListTenants(c, actorOf(c), c.Param("org"))
	s.respond(c, http.StatusOK, gin.H{"tenants": ts, "next_cursor": ""}, err)
}

func (s *Server) getTenant(c *gin.Context) {
	t, err := s.svc.GetTenant(c, actorOf(c), c.Param("org"), c.Param("id"))
	s.respond(c, http.StatusOK, t, err)
}

func (s *Server) updateTenant(c *gin.Context) {
	var p app.TenantPatch
	if s.decode(c, &p) {
		t, err := s.svc.UpdateTenant(c, actorOf(c), c.Param("org"), c.Param("id"), p)
		s.respond(c, http.StatusOK, t, err)
	}
}

func (s *Server) deleteTenant(c *gin.Context) {
	s.respond(c, http.StatusNoContent, nil, s.svc.DeleteTenant(c, actorOf(c), c.Param("org"), c.Param("id")))
}

func (s *Server) createPartner(c *gin.Context) {
	var in app.PartnerInput
	if s.decode(c, &in) {
		p, err := s.svc.CreatePartner(c, actorOf(c), c.Param("org"), in)
		s.respond(c, http.StatusCreated, p, err)
	}
}

func (s *Server) listPartners(c *gin.Context) {
	var active *bool
	switch c.Query("active") {
	case "":
	case "true", "false":
		v := c.Query("active") == "true"
		active = &v
	default:
		s.abortError(c, app.Errorf(app.CodeValidation, "active: must be true or false"))
		return
	}
	ps, err := s.svc.ListPartners(c, actorOf(c), c.Param("org"), active)
	s.respond(c, http.StatusOK, gin.H{"partners": ps, "next_cursor": ""}, err)
}

func (s *Server) getPartner(c *gin.Context) {
	p, err := s.svc.GetPartner(c, actorOf(c), c.Param("org"), c.Param("id"))
	s.respond(c, http.StatusOK, p, err)
}

func (s *Server) updatePartner(c *gin.Context) {
	var p app.PartnerPatch
	if s.decode(c, &p) {
		v, err := s.svc.UpdatePartner(c, actorOf(c), c.Param("org"), c.Param("id"), p)
		s.respond(c, http.StatusOK, v, err)
	}
}

func (s *Server) deletePartner(c *gin.Context) {
	s.respond(c, http.StatusNoContent, nil, s.svc.DeletePartner(c, actorOf(c), c.Param("org"), c.Param("id")))
}

func (s *Server) deactivatePartner(c *gin.Context) {
	p, err := s.svc.DeactivatePartner(c, actorOf(c), c.Param("org"), c.Param("id"))
	s.respond(c, http.StatusOK, p, err)
}

func (s *Server) reactivatePartner(c *gin.Context) {
	p, err := s.svc.ReactivatePartner(c, actorOf(c), c.Param("org"), c.Param("id"))
	s.respond(c, http.StatusOK, p, err)
}

// rotateRequest is POST …/rotate-secret. An absent grace_period_seconds
// (or no body at all) means app.DefaultRotateGrace; 0 must be said.
type rotateRequest struct {
	GracePeriodSeconds *int64 `json:"grace_period_seconds"`
}

func (s *Server) rotateSecret(c *gin.Context) {
	var in rotateRequest
	if !s.decode(c, &in) { // an empty body reads as {}
		return
	}
	grace := app.DefaultRotateGrace
	if in.GracePeriodSeconds != nil {
		if *in.GracePeriodSeconds < 0 || *in.GracePeriodSeconds > 604800 {
			s.abortError(c, app.Errorf(app.CodeValidation, "grace_period_seconds: must be between 0 and 604800"))
			return
		}
		grace = time.Duration(*in.GracePeriodSeconds) * time.Second
	}
	res, err := s.svc.RotateSecret(c, actorOf(c), c.Param("org"), c.Param("id"), grace)
	s.respond(c, http.StatusOK, res, err)
}

func (s *Server) addKey(c *gin.Context) {
	var in app.KeyInput
	if s.decode(c, &in) {
		k, err := s.svc.AddKey(c, actorOf(c), c.Param("org"), c.Param("id"), in)
		s.respond(c, http.StatusCreated, k, err)
	}
}

func (s *Server) listKeys(c *gin.Context) {
	ks, err := s.svc.ListKeys(c, actorOf(c), c.Param("org"), c.Param("id"))
	s.respond(c, http.StatusOK, gin.H{"keys": ks, "next_cursor": ""}, err)
}

func (s *Server) deleteKey(c *gin.Context) {
	s.respond(c, http.StatusNoContent, nil, s.svc.DeleteKey(c, actorOf(c), c.Param("org"), c.Param("id"), c.Param("kid")))
}

func (s *Server) listUsers(c *gin.Context) {
	limit, err := app.ParseLimit(c.Query("limit"))
	if err != nil {
		s.abortError(c, err)
		return
	}
	list, err := s.svc.ListUsers(c, actorOf(c), c.Param("org"), c.Query("q"), c.Query("tenant"), limit, c.Query("cursor"))
	s.respond(c, http.StatusOK, list, err)
}

func (s *Server) createUser(c *gin.Context) {
	var in app.UserInput
	if s.decode(c, &in) {
		u, err := s.svc.CreateUser(c, actorOf(c), c.Param("org"), in)
		s.respond(c, http.StatusCreated, u, err)
	}
}

func (s *Server) getUser(c *gin.Context) {
	u, err := s.svc.GetUser(c, actorOf(c), c.Param("org"), c.Param("id"))
	s.respond(c, http.StatusOK, u, err)
}

func (s *Server) deleteUser(c *gin.Context) {
	s.respond(c, http.StatusNoContent, nil, s.svc.DeleteUser(c, actorOf(c), c.Param("org"), c.Param("id")))
}

func (s *Server) rekey(c *gin.Context) {
	n, err := s.svc.Rekey(c, actorOf(c))
	s.respond(c, http.StatusOK, gin.H{"resealed": n}, err)
}
