package graph_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// Two HQ admins, the only two, disable each other at the same moment: one
// wins, the other gets LAST_ADMIN, and the channel keeps an admin.
func TestUserAdminsDisableEachOther(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		first := e.As(auth.RoleHQAdmin)
		var me struct {
			Viewer struct{ User struct{ ID string } }
		}
		e.Query(first, `{ viewer { user { id } } }`, nil).Decode(t, &me)
		second := userCreate(t, e, first, map[string]any{"partyId": partyID(t, e, first, "HQ-ZJ"), "phone": "13900000088",
			"name": "第二管理员", "roles": []string{"HQ_ADMIN"}, "password": "channelhub-demo"}) // e.Login signs in with it
		require.Empty(t, second.Errors)
		secondToken := e.Login("13900000088", auth.AppConsole).AccessToken
		var admins int
		count := func() int {
			require.NoError(t, e.Server.DB.NewRaw(`SELECT count(*) FROM users WHERE status = 'ACTIVE' AND roles LIKE '%"HQ_ADMIN"%'`).Scan(context.Background(), &admins))
			return admins
		}
		require.Equal(t, 2, count(), "the seed's admin and the new one")

		var mu sync.Mutex
		var codes []string
		pairs := [][2]string{{first, second.User.ID}, {secondToken, me.Viewer.User.ID}}
		together(2, func(i int) {
			var d struct {
				UserUpdate struct{ Errors []struct{ Code string } }
			}
			e.Query(pairs[i][0], `mutation($id: ID!) { userUpdate(id: $id, input: {status: DISABLED, reason: "race"}) { errors { code } } }`,
				map[string]any{"id": pairs[i][1]}).Decode(t, &d)
			mu.Lock()
			defer mu.Unlock()
			for _, c := range d.UserUpdate.Errors {
				codes = append(codes, c.Code)
			}
		})
		require.Equal(t, 1, count(), "one admin stays")
		require.Subset(t, []string{"LAST_ADMIN", "UNAUTHENTICATED"}, codes, "the loser is refused")
	})
}

// HQ replaces a salesman's stores from two screens at once: both succeed or
// one waits for the other, never a server error, and the set is one of them.
func TestUserAssignedStoresRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		var salesman string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT CAST(id AS TEXT) FROM users WHERE phone = '13800000021'`).Scan(context.Background(), &salesman))
		sets := [][]string{{partyID(t, e, hq, "S-0001"), partyID(t, e, hq, "S-0002")}, {partyID(t, e, hq, "S-0002"), partyID(t, e, hq, "S-0003")}}
		var mu sync.Mutex
		var problems []string
		together(6, func(i int) {
			r := e.Query(hq, `mutation($id: ID!, $s: [ID!]!) { userAssignedStoresSet(id: $id, input: {storeIds: $s, reason: "route"}) { errors { code } } }`,
				map[string]any{"id": "User:" + salesman, "s": sets[i%2]})
			mu.Lock()
			defer mu.Unlock()
			problems = append(problems, r.Codes()...)
		})
		require.Empty(t, problems)
		var n int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT count(*) FROM salesman_stores WHERE user_id = ?`, salesman).Scan(context.Background(), &n))
		require.Equal(t, 2, n, "one of the two sets, whole")
	})
}
