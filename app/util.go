package app

import (
	"encoding/json"
	"strconv"
)

func indexed(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// equalJSON compares two views as the API would show them.
func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
