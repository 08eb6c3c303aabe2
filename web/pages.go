package web

import (
	"bytes"
	"embed"
	"html/template"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
)

//go:embed pages/*.html
var pageFiles embed.FS

func parsePages() (*template.Template, error) {
	funcs := template.FuncMap{
		// js_raw emits a fixed, server-owned script (never user data) so its
		// bytes match the hash in the page's CSP.
		"js_raw": func(s string) template.JS { return template.JS(s) },
	}
	return template.New("pages").Funcs(funcs).ParseFS(pageFiles, "pages/*.html")
}

// homePage is GET /.
type homePage struct {
	Base      string
	SignedIn  bool
	User      app.UserView
	ExpiresAt string
}

// errorPage is a sign-in error for a person.
type errorPage struct {
	Code, Message, RequestID, Advice, Base string
}

// renderPage executes a page into a buffer first, so a template failure is a
// clean 500 rather than half a page.
func (s *Server) renderPage(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.abortError(c, err)
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}
