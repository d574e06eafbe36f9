package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/database/dbtest"
)

// chbench drives a real in-process server and reports every scenario without errors.
func TestChbenchAgainstARealServer(t *testing.T) {
	t.Parallel()
	e := apitest.Start(t, dbtest.Backends(t)[0], apitest.Options{})
	var out bytes.Buffer
	require.NoError(t, run([]string{"-url", e.URL + "/graphql", "-c", "2", "-d", "300ms", "-warmup", "50ms",
		"-scenarios", "typename,catalog,cart"}, &out))
	for _, s := range []string{"typename", "catalog", "cart"} {
		require.Regexp(t, regexp.MustCompile(`(?m)^`+s+`\s+[1-9]\d*\s+\d+\s+\S+\s+\S+\s+\S+\s+0\s`), out.String())
	}
	require.Error(t, run([]string{"-url", e.URL + "/graphql", "-scenarios", "nope", "-d", "10ms"}, &out))
	require.Error(t, run([]string{"-url", e.URL + "/graphql", "-password", "wrong-password", "-d", "10ms"}, &out))
}
