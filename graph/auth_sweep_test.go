package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// Sweeping removes ended sessions and stale failure counts, and nothing live.
func TestAuthSweep(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		live := e.Login("13800000001", auth.AppDistributor)
		old := e.Login("13800000002", auth.AppDistributor)
		r := e.Query("", `mutation($t: String!) { authLogout(input: {refreshToken: $t}) { ok } }`, map[string]any{"t": old.RefreshToken})
		require.JSONEq(t, `{"authLogout":{"ok":true}}`, string(r.Data))
		e.Query("", `mutation { authLogin(input: {phone: "13800000099", password: "wrong-password", app: CONSOLE}) { errors { code } } }`, nil)

		count := func(table string) int {
			n, err := e.Server.DB.NewSelect().Table(table).Count(ctx)
			require.NoError(t, err)
			return int(n)
		}
		sessions, attempts := count("sessions"), count("login_attempts")
		a, n, err := e.Server.Auth.Sweep(ctx, 100)
		require.NoError(t, err)
		require.Zero(t, a+n, "nothing is old enough yet")

		e.Clock.Advance(8 * 24 * time.Hour)
		a, n, err = e.Server.Auth.Sweep(ctx, 100)
		require.NoError(t, err)
		require.Equal(t, int64(attempts), a)
		require.Equal(t, int64(1), n, "only the session revoked over a week ago")
		require.Equal(t, sessions-1, count("sessions"))

		// The live session still refreshes.
		r = e.Query("", `mutation($t: String!) { authRefresh(input: {refreshToken: $t}) { errors { code } } }`, map[string]any{"t": live.RefreshToken})
		require.JSONEq(t, `{"authRefresh":{"errors":[]}}`, string(r.Data))
	})
}
