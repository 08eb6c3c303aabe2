package web

import (
	"log/slog"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

// signInNoteKey holds a sign-in or revoke request's *app.SignInNote.
const signInNoteKey = "gatehouse.signin_note"

// noteSignIn marks a sign-in or revoke route (SPEC §4.1, 4.3, 4.5): its
// request line carries the answer's code and the organization, partner and
// tenant as far as the checks got, so the request id a partner quotes leads
// to the partner and the reason. It runs before the rate limit, whose
// refusals are coded too.
func noteSignIn(c *gin.Context) {
	c.Set(signInNoteKey, &app.SignInNote{})
	c.Next()
}

// signInNote is the request's note; nil outside the sign-in routes.
func signInNote(c *gin.Context) *app.SignInNote {
	v, _ := c.Get(signInNoteKey)
	n, _ := v.(*app.SignInNote)
	return n
}

// noteCode records an error answer's code on a sign-in request's note.
func noteCode(c *gin.Context, code string) {
	if n := signInNote(c); n != nil {
		n.Code = code
	}
}

// appendSignInAttrs adds a sign-in request's code and ids to its log line.
// Every key is present (empty when unknown, code empty on success), so JSON
// lines have one shape.
func appendSignInAttrs(c *gin.Context, attrs []slog.Attr) []slog.Attr {
	n := signInNote(c)
	if n == nil {
		return attrs
	}
	return append(attrs, slog.String("code", n.Code), slog.String("org_id", n.OrgID),
		slog.String("partner_id", n.PartnerID), slog.String("tenant_id", n.TenantID))
}

// forwardAuthLevel is log.forward_auth_level as a slog level; off reports
// that those lines are dropped. The config load refused any other value.
func forwardAuthLevel(v string) (level slog.Level, off bool) {
	switch v {
	case app.ForwardAuthLogOff:
		return 0, true
	case app.ForwardAuthLogInfo:
		return slog.LevelInfo, false
	}
	return slog.LevelDebug, false
}
