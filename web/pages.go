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
		// head is what the "top" layout needs: the title and whether the page
		// holds a sign-out form (see pageHead).
		"head": func(title string, signOut ...bool) pageHead {
			return pageHead{Title: title, SignOut: len(signOut) > 0 && signOut[0]}
		},
	}
	return template.New("pages").Funcs(funcs).ParseFS(pageFiles, "pages/*.html")
}

// pageHead is the layout's input. A page with a sign-out form relaxes the
// referrer policy to same-origin for itself: under the no-referrer header
// browsers send "Origin: null" on every POST, even to the page's own
// origin, and /logout refuses any Origin but public_url's (SPEC §4.4).
// same-origin still sends nothing to other sites.
type pageHead struct {
	Title   string
	SignOut bool
}

// homePage is GET /.
type homePage struct {
	Base      string
	SignedIn  bool
	User      app.UserView
	ExpiresAt string
}

// errorPage is an error for a person: Title heads the page.
type errorPage struct {
	Title, Code, Message, RequestID, Advice, Base string
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
