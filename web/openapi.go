package web

import (
	_ "embed"
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/goccy/go-yaml"
)

// openAPIYAML is the admin API reference (OpenAPI 3.1). It is written as
// YAML for people; the server answers it as JSON, docs/api.md is rendered
// from it, and TestOpenAPI* hold it to the router and to real answers.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIJSON is the admin API reference as JSON, converted once.
var OpenAPIJSON = sync.OnceValues(func() ([]byte, error) {
	b, err := yaml.YAMLToJSON(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("web/openapi.yaml: %w", err)
	}
	return b, nil
})

func (s *Server) openAPI(c *gin.Context) {
	b, err := OpenAPIJSON()
	if err != nil {
		s.abortError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
}
