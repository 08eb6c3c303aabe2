package web

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// Demo is the seeded world of `gatehouse demo`: the pages under /demo play
// a partner portal that signs tokens with the demo partner's private key.
type Demo struct {
	OrgID, TenantID, Kid string
	PrivateKey           *rsa.PrivateKey
}

// autoSubmitScript posts the portal's form as soon as the page loads, as
// real partner portals do; the CSP admits exactly this script by hash.
const autoSubmitScript = `document.getElementById("sso").submit();`

var autoSubmitCSP = func() string {
	sum := sha256.Sum256([]byte(autoSubmitScript))
	return "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-" +
		base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

type demoPage struct {
	Base, OrgID, TenantID, Kid string
}

type demoPostPage struct {
	Action, Token, ReturnTo, Email, Role, Script string
}

type dashboardPage struct {
	Base     string
	SignedIn bool
	User     app.UserView
	// Check is the forward-auth URL a proxy in front of this dashboard calls.
	Check string
}

func (d *Demo) routes(s *Server, r *gin.RouterGroup) {
	r.GET("/demo", func(c *gin.Context) {
		s.renderPage(c, http.StatusOK, "demo", demoPage{Base: s.publicBase, OrgID: d.OrgID, TenantID: d.TenantID, Kid: d.Kid})
	})
	r.POST("/demo/sign", func(c *gin.Context) {
		form, err := s.readForm(c)
		if err != nil {
			s.abortSignInError(c, err)
			return
		}
		role := form.Get("role")
		if !app.ValidRole(role) {
			role = app.RoleAdmin
		}
		email := form.Get("email")
		if email == "" {
			email = "demo.user@example.com"
		}
		ttl := s.cfg.SSO.MaxTokenLifetime / 12 // five minutes with the defaults
		if form.Get("expired") == "on" {
			ttl = -10 * s.cfg.SSO.ClockSkew
		}
		claims := app.NewTokenClaims(d.OrgID, d.TenantID, email, role, form.Get("name"), s.svc.Now(), ttl)
		token, err := app.SignToken(d.PrivateKey, d.Kid, claims)
		if err != nil {
			s.abortSignInError(c, err)
			return
		}
		c.Header("Content-Security-Policy", autoSubmitCSP)
		s.renderPage(c, http.StatusOK, "demo_post", demoPostPage{
			Action: s.publicBase + "/sso/jwt", Token: token, ReturnTo: s.publicBase + "/demo/dashboard",
			Email: email, Role: role, Script: autoSubmitScript,
		})
	})
	r.GET("/demo/dashboard", func(c *gin.Context) {
		// The dashboard admits whom its proxy's forward-auth check would:
		// a session of the demo organization's tenant (SPEC §4.4).
		check := verifyQuery{Org: d.OrgID, Tenant: d.TenantID}
		page := dashboardPage{Base: s.publicBase, Check: "/auth/verify?" + url.Values{"org": {check.Org}, "tenant": {check.Tenant}}.Encode()}
		if id, err := s.identity(c); err == nil {
			if !check.admits(id.User.OrgID, id.User.TenantID, id.User.Role) {
				s.abortNegotiated(c, &app.Error{Code: app.CodeAccessDenied, Message: "this dashboard is for another organization or tenant"}, "Not your dashboard", "")
				return
			}
			page.SignedIn, page.User = true, app.NewUserView(id.User)
		}
		s.renderPage(c, http.StatusOK, "dashboard", page)
	})
}
