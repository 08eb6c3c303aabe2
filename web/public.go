package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// capBody caps request bodies at server.max_body_bytes. Handlers read bodies
// through readBody, which turns the overflow into PayloadTooLarge, so each
// route answers it in its own error format.
func (s *Server) capBody() gin.HandlerFunc {
	limit := int64(s.cfg.Server.MaxBodyBytes)
	return func(c *gin.Context) {
		// GET and HEAD routes never read a body (forward-auth is one, on
		// every page load): nothing to cap, no reader to allocate.
		if m := c.Request.Method; m != http.MethodGet && m != http.MethodHead {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// limitIP throttles sign-in attempts per client address
// (ratelimit.signin_per_ip); abort answers in the route's error format.
func (s *Server) limitIP(code string, abort func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ok, wait := s.ipLimiter.AllowAt(limitKey(c.ClientIP()), s.svc.Now()); !ok {
			secs := int(wait.Seconds()) + 1
			abort(c, &app.Error{Code: code, Message: "too many sign-in attempts from this address; retry later", RetryAfter: secs})
			return
		}
		c.Next()
	}
}

// limitKey is the rate-limit key of a client address: an IPv4 address as it
// is (also when IPv4-mapped), an IPv6 address by its /64. One IPv6 host
// usually holds a whole /64, so per-address buckets would let it rotate
// addresses past the limit.
func limitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// readBody reads the (already limited) body; too large is 413.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &app.Error{Code: app.CodePayloadTooLarge, Message: "request body too large"}
	}
	if err != nil {
		return nil, &app.Error{Code: app.CodeInvalidPayload, Message: "could not read the request body"}
	}
	return b, nil
}

// readForm parses an application/x-www-form-urlencoded body.
func (s *Server) readForm(c *gin.Context) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &app.Error{Code: app.CodeUnsupportedMediaType, Message: "send the token as application/x-www-form-urlencoded"}
	}
	body, err := s.readBody(c)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &app.Error{Code: app.CodeInvalidPayload, Message: "the form body is malformed"}
	}
	return form, nil
}

func (s *Server) signInJWT(c *gin.Context) {
	form, err := s.readForm(c)
	if err != nil {
		s.abortSignInError(c, err)
		return
	}
	if len(form["token"]) > 1 || len(form["return_to"]) > 1 {
		s.abortSignInError(c, &app.Error{Code: app.CodeInvalidPayload, Message: "token and return_to may each be given once"})
		return
	}
	res, err := s.svc.SignInJWT(c, app.JWTSignIn{
		Token: form.Get("token"), ReturnTo: form.Get("return_to"), Origin: c.GetHeader("Origin"),
		ClientIP: c.ClientIP(), RequestID: requestID(c), Note: signInNote(c),
	})
	if err != nil {
		s.abortSignInError(c, err)
		return
	}
	s.finishSignIn(c, res)
}

// finishSignIn sets a fresh session cookie and redirects (SPEC §4.1 step 13).
func (s *Server) finishSignIn(c *gin.Context, res app.SignInResult) {
	http.SetCookie(c.Writer, s.cookie.session(res.SessionToken, res.ExpiresAt))
	c.Redirect(http.StatusFound, res.Location)
}

func (s *Server) hmacToken(c *gin.Context) {
	req, ok := s.hmacRequest(c)
	if !ok {
		return
	}
	resp, err := s.svc.IssueHMACLoginToken(c, req)
	if err != nil {
		s.abortError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// hmacRequest reads what every signed server-to-server HMAC call carries
// (/sso/hmac/token and /sso/hmac/revoke): a JSON body and the three headers.
// On false the error answer has been written.
func (s *Server) hmacRequest(c *gin.Context) (app.HMACTokenRequest, bool) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "" && mt != "application/json" {
		s.abortError(c, &app.Error{Code: app.CodeValidation, Message: "Content-Type must be application/json"})
		return app.HMACTokenRequest{}, false
	}
	body, err := s.readBody(c)
	if err != nil {
		s.abortError(c, err)
		return app.HMACTokenRequest{}, false
	}
	return app.HMACTokenRequest{
		ConsumerKey: c.GetHeader("X-Consumer-Key"), Timestamp: c.GetHeader("X-Timestamp"), Signature: c.GetHeader("X-Signature"),
		Body: body, ClientIP: c.ClientIP(), RequestID: requestID(c), Note: signInNote(c),
	}, true
}

// hmacLogin is §4.3 step 2, opened by a person's browser: its errors follow
// the Accept rule. A token comes from the query or a form body; any other
// body (JSON, multipart) carries no token, so it is an invalid_login_token
// like a missing one, never a 415 the person could not act on.
func (s *Server) hmacLogin(c *gin.Context) {
	token := c.Query("token")
	if len(c.QueryArray("token")) > 1 {
		token = "" // two tokens are no token: never guess which one was meant
	}
	if c.Request.Method == http.MethodPost && len(c.QueryArray("token")) == 0 {
		form, err := s.readForm(c)
		if app.ErrorCode(err) == app.CodePayloadTooLarge {
			s.abortSignInError(c, err)
			return
		}
		if err == nil && len(form["token"]) == 1 {
			token = form.Get("token")
		}
	}
	res, err := s.svc.CompleteHMACLogin(c, app.HMACLogin{Token: token, Origin: c.GetHeader("Origin"), ClientIP: c.ClientIP(), RequestID: requestID(c), Note: signInNote(c)})
	if err != nil {
		s.abortSignInError(c, err)
		return
	}
	s.finishSignIn(c, res)
}

// identity resolves the request's session cookie.
func (s *Server) identity(c *gin.Context) (app.Identity, error) {
	token := requestSessionToken(c.Request, s.cookie.name)
	if token == "" {
		return app.Identity{}, app.ErrNoSession
	}
	return s.svc.Authenticate(c, token)
}

// verify is forward-auth: 200 with identity headers, 401 without a session,
// 403 when the organization, tenant or role asked for does not match, 400
// for a query that does not say exactly what it means.
func (s *Server) verify(c *gin.Context) {
	q, err := parseVerifyQuery(c.Request.URL.RawQuery)
	if err != nil {
		s.metrics.countForwardAuth("invalid_request")
		s.abortSignInError(c, err)
		return
	}
	id, err := s.identity(c)
	if err != nil {
		// A failure to look the session up is not "no session": answering
		// 401 would send a signed-in user to sign in again while the
		// database is down, so it is the failure's own status (500, 503).
		if code := app.ErrorCode(err); code == app.CodeInternal || code == app.CodeUnavailable {
			s.metrics.countForwardAuth("error")
			s.abortError(c, err)
			return
		}
		s.metrics.countForwardAuth("unauthenticated")
		c.AbortWithStatus(http.StatusUnauthorized)
		return
	}
	if !q.admits(id.User.OrgID, id.User.TenantID, id.User.Role) {
		s.metrics.countForwardAuth("forbidden")
		c.AbortWithStatus(http.StatusForbidden)
		return
	}
	s.metrics.countForwardAuth("allowed")
	assertion, ok := s.assertion(c, id, q.Aud)
	if !ok {
		return
	}
	// Assigned by canonical name from one backing array: Header.Set's
	// canonicalisation and a slice per header were a tenth of the check.
	// Each value slice has len == cap, so an append copies instead of
	// writing into its neighbour.
	v := [...]string{id.User.ID, id.User.Email, headerSafe(id.User.Name), id.User.OrgID, id.User.TenantID, id.User.Role, assertion}
	vals := v[:]
	h := c.Writer.Header()
	h["X-Gatehouse-User"] = vals[0:1:1]
	h["X-Gatehouse-Email"] = vals[1:2:2]
	h["X-Gatehouse-Name"] = vals[2:3:3]
	h["X-Gatehouse-Org"] = vals[3:4:4]
	h["X-Gatehouse-Tenant"] = vals[4:5:5]
	h["X-Gatehouse-Role"] = vals[5:6:6]
	if assertion != "" { // "" only with session.assertion off
		h["X-Gatehouse-Assertion"] = vals[6:7:7]
	}
	c.Status(http.StatusOK)
}

// headerSafe keeps a display name inside one header line.
func headerSafe(s string) string {
	i := 0
	for i < len(s) && headerByte(s[i]) {
		i++
	}
	if i == len(s) { // the usual case: no copy
		return s
	}
	out := []byte(s[:i])
	for ; i < len(s); i++ {
		if headerByte(s[i]) {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// headerByte reports whether b may stand in a header value: no control character.
func headerByte(b byte) bool { return b >= 0x20 && b != 0x7f }

// requestSessionToken is the value of the first cookie with this name whose value
// could be a session token (base64url), or "". It reads the Cookie headers
// in place: net/http's parser builds every cookie of the request, and gin
// then unescapes the value, on every forward-auth check. A value in any
// other alphabet (quoted, percent-escaped) is not a token we issued, so it
// is skipped as net/http skips a malformed cookie.
func requestSessionToken(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name && v != "" && isBase64URL(v) {
				return v
			}
		}
	}
	return ""
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// sessionBody is GET /session.
type sessionBody struct {
	User      app.UserView `json:"user"`
	ExpiresAt string       `json:"expires_at"`
}

func (s *Server) session(c *gin.Context) {
	id, err := s.identity(c)
	if err != nil {
		s.abortNegotiated(c, err, "Not signed in", "")
		return
	}
	c.JSON(http.StatusOK, sessionBody{User: app.NewUserView(id.User), ExpiresAt: id.Session.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z07:00")})
}

// errCrossSiteLogout refuses a sign-out another site's page posted (SPEC §4.4).
var errCrossSiteLogout = &app.Error{Code: app.CodeAccessDenied, Message: "sign-out must come from this site's own pages; the request came from another site"}

func (s *Server) logout(c *gin.Context) {
	// A page of another site must not sign a person out: SameSite=Lax does
	// not stop a POST from a sibling host, and the answer's cookie-clearing
	// header works even without the cookie. Browsers send Origin on every
	// POST; a request without one (curl, a script) is no browser's.
	if origin, sent := c.Request.Header["Origin"]; sent && (len(origin) != 1 || origin[0] != s.publicOrigin) {
		s.abortNegotiated(c, errCrossSiteLogout, "Sign-out refused",
			"Sign out from Gatehouse's own page: open the sign-in status page below and press Sign out there.")
		return
	}
	if token := requestSessionToken(c.Request, s.cookie.name); token != "" {
		if err := s.svc.Logout(c, token); err != nil {
			s.abortNegotiated(c, err, "Sign-out failed", "")
			return
		}
	}
	http.SetCookie(c.Writer, s.cookie.clear())
	c.Redirect(http.StatusSeeOther, s.publicBase+"/")
}

func (s *Server) home(c *gin.Context) {
	page := homePage{Base: s.publicBase}
	if id, err := s.identity(c); err == nil {
		page.SignedIn = true
		page.User = app.NewUserView(id.User)
		page.ExpiresAt = id.Session.ExpiresAt.UTC().Format("2006-01-02 15:04 MST")
	}
	s.renderPage(c, http.StatusOK, "home", page)
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *Server) readyz(c *gin.Context) {
	if err := s.svc.Ready(c); err != nil {
		s.log.Error("not ready", "err", err)
		var sealed *app.SealedKeyError
		if errors.As(err, &sealed) {
			// The database answers; a key is missing. Say which version (no
			// partner is named on the public listener; the log has the line).
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "database": "ok", "encryption_keys": "error", "detail": sealed.Public()})
			return
		}
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "database": "error"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "database": "ok", "encryption_keys": "ok"})
}
