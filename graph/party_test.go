package graph_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// partyID looks a party's global id up by its code, as HQ.
func partyID(t *testing.T, e *apitest.Env, token, code string) string {
	t.Helper()
	r := e.Query(token, `query($s: String) { parties(first: 5, filter: {search: $s}) { edges { node { id code } } } }`, map[string]any{"s": code})
	var d struct {
		Parties struct {
			Edges []struct{ Node struct{ ID, Code string } }
		}
	}
	r.Decode(t, &d)
	for _, ed := range d.Parties.Edges {
		if ed.Node.Code == code {
			return ed.Node.ID
		}
	}
	t.Fatalf("no party %s: %s", code, r.Data)
	return ""
}

type partyPayload struct {
	Party *struct {
		ID, Code, Kind, Status string
		Level                  int
		Parent                 *struct{ Code string }
		Geo                    *struct{ Latitude, Longitude float64 }
	}
	Errors []struct {
		Code  string
		Field []string
	}
}

func (p partyPayload) codes() []string {
	out := []string{}
	for _, e := range p.Errors {
		out = append(out, e.Code)
	}
	return out
}

const partyCreateQ = `mutation($in: PartyCreateInput!) { partyCreate(input: $in) {
	party { id code kind status level parent { code } geo { latitude longitude } } errors { code field } } }`

func partyCreate(t *testing.T, e *apitest.Env, token string, in map[string]any) partyPayload {
	t.Helper()
	r := e.Query(token, partyCreateQ, map[string]any{"in": in})
	require.Empty(t, r.Errors, "%s", r.Data)
	var d struct{ PartyCreate partyPayload }
	r.Decode(t, &d)
	return d.PartyCreate
}

func TestPartyCreateFollowsTheChannelTree(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d1, d4, br := partyID(t, e, hq, "D-0001"), partyID(t, e, hq, "D-0004"), partyID(t, e, hq, "BR-HZ")
		base := func(code, kind, parent string) map[string]any {
			return map[string]any{"code": code, "name": "测试 " + code, "kind": kind, "parentId": parent, "channelType": "DISTRIBUTOR"}
		}

		p := partyCreate(t, e, hq, base("D-1001", "DISTRIBUTOR", br))
		require.Empty(t, p.Errors)
		require.Equal(t, 1, p.Party.Level)
		require.Equal(t, "PENDING", p.Party.Status)
		require.Equal(t, "BR-HZ", p.Party.Parent.Code)

		p = partyCreate(t, e, hq, base("D-1002", "DISTRIBUTOR", d1))
		require.Empty(t, p.Errors)
		require.Equal(t, 2, p.Party.Level)

		require.Equal(t, []string{"PARENT_KIND_INVALID"}, partyCreate(t, e, hq, base("D-1003", "DISTRIBUTOR", d4)).codes(), "no level 3")
		require.Equal(t, []string{"PARENT_KIND_INVALID"}, partyCreate(t, e, hq, base("B-1", "BRANCH", d1)).codes())
		require.Equal(t, []string{"PARENT_KIND_INVALID"}, partyCreate(t, e, hq, map[string]any{"code": "HQ-2", "name": "x", "kind": "HQ", "channelType": "AGENT"}).codes(), "one HQ")
		require.Equal(t, []string{"PARENT_NOT_FOUND"}, partyCreate(t, e, hq, base("S-1", "STORE", "Party:0190b7a8-0000-7000-8000-000000000000")).codes())
		require.Equal(t, []string{"PARENT_NOT_FOUND"}, partyCreate(t, e, hq, map[string]any{"code": "S-2", "name": "x", "kind": "STORE", "channelType": "RETAILER"}).codes())
		require.Equal(t, []string{"CODE_TAKEN"}, partyCreate(t, e, hq, base("D-0001", "DISTRIBUTOR", br)).codes())

		store := base("S-1001", "STORE", d1)
		store["geo"] = map[string]any{"latitude": 30.1, "longitude": 120.2}
		p = partyCreate(t, e, hq, store)
		require.Empty(t, p.Errors)
		require.Equal(t, 30.1, p.Party.Geo.Latitude)

		bad := base("bad code!", "STORE", d1)
		bad["name"] = ""
		bad["geo"] = map[string]any{"latitude": 91, "longitude": 0}
		bad["contactPhone"] = "12345"
		p = partyCreate(t, e, hq, bad)
		require.Nil(t, p.Party)
		fields := map[string]bool{}
		for _, er := range p.Errors {
			fields[fmt.Sprint(er.Field)] = true
		}
		require.Equal(t, map[string]bool{"[code]": true, "[name]": true, "[geo]": true, "[contactPhone]": true}, fields, "every bad field is reported at once")

		r := e.Query(hq, `query($s: String) { parties(filter: {search: $s}) { totalCount } }`, map[string]any{"s": "bad code"})
		require.Contains(t, string(r.Data), `"totalCount":0`, "nothing half-written")
	})
}

func TestPartyStatusLifecycleIsAudited(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		br := partyID(t, e, hq, "BR-NB")
		id := partyCreate(t, e, hq, map[string]any{"code": "D-2001", "name": "新经销商", "kind": "DISTRIBUTOR", "parentId": br, "channelType": "DISTRIBUTOR"}).Party.ID
		change := func(status, reason string) partyPayload {
			r := e.Query(hq, `mutation($id: ID!, $in: PartyStatusChangeInput!) { partyStatusChange(id: $id, input: $in) {
				party { id code kind status level } errors { code field } } }`, map[string]any{"id": id, "in": map[string]any{"status": status, "reason": reason}})
			require.Empty(t, r.Errors)
			var d struct{ PartyStatusChange partyPayload }
			r.Decode(t, &d)
			return d.PartyStatusChange
		}
		require.Equal(t, []string{"REASON_REQUIRED"}, change("ACTIVE", "  ").codes())
		require.Equal(t, []string{"INVALID_STATUS_TRANSITION"}, change("SUSPENDED", "too early").codes())
		require.Equal(t, "ACTIVE", change("ACTIVE", "contract signed").Party.Status)
		require.Equal(t, []string{"INVALID_STATUS_TRANSITION"}, change("PENDING", "back").codes())
		require.Equal(t, "EXITED", change("EXITED", "left the channel").Party.Status)
		require.Equal(t, []string{"INVALID_STATUS_TRANSITION"}, change("ACTIVE", "again").codes(), "EXITED is final")

		var reasons []string
		require.NoError(t, e.Server.DB.NewSelect().Table("audit_log").Column("reason").
			Where("action = 'party.status'").OrderExpr("at").Scan(context.Background(), &reasons))
		require.Equal(t, []string{"contract signed", "left the channel"}, reasons)
	})
}

func TestPartyStatusRaceAppliesOnce(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		id := partyID(t, e, hq, "S-0007")
		const n = 8
		var wg sync.WaitGroup
		results := make(chan string, n)
		for range n {
			wg.Go(func() {
				r := e.Query(hq, `mutation($id: ID!) { partyStatusChange(id: $id, input: {status: SUSPENDED, reason: "race"}) { party { status } errors { code } } }`,
					map[string]any{"id": id})
				results <- string(r.Data)
			})
		}
		wg.Wait()
		close(results)
		ok := 0
		for r := range results {
			if r == `{"partyStatusChange":{"party":{"status":"SUSPENDED"},"errors":[]}}` {
				ok++
			} else {
				require.Equal(t, `{"partyStatusChange":{"party":null,"errors":[{"code":"INVALID_STATUS_TRANSITION"}]}}`, r)
			}
		}
		require.Equal(t, 1, ok)
	})
}

type userPayload struct {
	User *struct {
		ID, Phone, Status string
		Roles             []string
	}
	Errors []struct{ Code string }
}

func (p userPayload) codes() []string {
	out := []string{}
	for _, e := range p.Errors {
		out = append(out, e.Code)
	}
	return out
}

func userCreate(t *testing.T, e *apitest.Env, token string, in map[string]any) userPayload {
	t.Helper()
	r := e.Query(token, `mutation($in: UserCreateInput!) { userCreate(input: $in) { user { id phone status roles } errors { code } } }`, map[string]any{"in": in})
	require.Empty(t, r.Errors, "%s", r.Data)
	var d struct{ UserCreate userPayload }
	r.Decode(t, &d)
	return d.UserCreate
}

func TestPartyUsersAndAssignments(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d2, s2, s3 := partyID(t, e, hq, "D-0002"), partyID(t, e, hq, "S-0002"), partyID(t, e, hq, "S-0003")
		in := func(phone string, roles ...string) map[string]any {
			return map[string]any{"partyId": d2, "phone": phone, "name": "新人", "roles": roles, "password": "Secret-123"}
		}
		require.Equal(t, []string{"PHONE_INVALID"}, userCreate(t, e, hq, in("23800000000", "DISTRIBUTOR_STAFF")).codes())
		require.Equal(t, []string{"PHONE_TAKEN"}, userCreate(t, e, hq, in("13800000001", "DISTRIBUTOR_STAFF")).codes())
		require.Equal(t, []string{"ROLE_NOT_ALLOWED"}, userCreate(t, e, hq, in("13900000001", "STORE_MANAGER")).codes())
		weak := in("13900000001", "SALESMAN")
		weak["password"] = "12345678"
		require.Equal(t, []string{"PASSWORD_POLICY"}, userCreate(t, e, hq, weak).codes())
		other := in("13900000001", "SALESMAN")
		other["partyId"] = "Party:0190b7a8-0000-7000-8000-000000000000"
		require.Equal(t, []string{"PARTY_NOT_FOUND"}, userCreate(t, e, hq, other).codes())

		u := userCreate(t, e, hq, in("13900000001", "SALESMAN", "DISTRIBUTOR_STAFF", "SALESMAN"))
		require.Empty(t, u.Errors)
		require.Equal(t, []string{"DISTRIBUTOR_STAFF", "SALESMAN"}, u.User.Roles, "roles deduplicated")

		login := e.Query("", `mutation { authLogin(input: {phone: "13900000001", password: "Secret-123", app: SALESMAN}) { session { accessToken } errors { code } } }`, nil)
		var ld struct {
			AuthLogin struct{ Session struct{ AccessToken string } }
		}
		login.Decode(t, &ld)
		salesman := ld.AuthLogin.Session.AccessToken
		require.NotEmpty(t, salesman)

		assign := func(id string, stores []string) userPayload {
			r := e.Query(hq, `mutation($id: ID!, $s: [ID!]!) { userAssignedStoresSet(id: $id, input: {storeIds: $s, reason: "route"}) {
				user { id phone status roles } errors { code } } }`, map[string]any{"id": id, "s": stores})
			require.Empty(t, r.Errors, "%s", r.Data)
			var d struct{ UserAssignedStoresSet userPayload }
			r.Decode(t, &d)
			return d.UserAssignedStoresSet
		}
		require.Equal(t, []string{"STORE_NOT_FOUND"}, assign(u.User.ID, []string{s2, d2}).codes(), "a distributor is not a store")
		admin := userCreate(t, e, hq, in("13900000002", "DISTRIBUTOR_ADMIN"))
		require.Equal(t, []string{"NOT_A_SALESMAN"}, assign(admin.User.ID, []string{s2}).codes())
		many := make([]string, 501)
		for i := range many {
			many[i] = s2
		}
		require.Equal(t, []string{"INVALID_INPUT"}, assign(u.User.ID, many).codes())

		q := `query($id: ID!) { party(id: $id) { code } }`
		require.Equal(t, []string{"NOT_FOUND"}, e.Query(salesman, q, map[string]any{"id": s3}).Codes())
		require.Empty(t, assign(u.User.ID, []string{s2, s3, s3}).Errors)
		r := e.Query(salesman, q, map[string]any{"id": s3})
		require.Empty(t, r.Errors)
		r = e.Query(hq, `query($id: ID!) { user(id: $id) { assignedStores { totalCount edges { node { code } } } } }`, map[string]any{"id": u.User.ID})
		require.JSONEq(t, `{"user":{"assignedStores":{"totalCount":2,"edges":[{"node":{"code":"S-0002"}},{"node":{"code":"S-0003"}}]}}}`, string(r.Data))

		// A role change ends the user's sessions at once.
		r = e.Query(hq, `mutation($id: ID!) { userUpdate(id: $id, input: {roles: [SALESMAN]}) { errors { code } } }`, map[string]any{"id": u.User.ID})
		require.JSONEq(t, `{"userUpdate":{"errors":[{"code":"REASON_REQUIRED"}]}}`, string(r.Data))
		r = e.Query(hq, `mutation($id: ID!) { userUpdate(id: $id, input: {roles: [SALESMAN], reason: "no desk work"}) { user { roles } errors { code } } }`, map[string]any{"id": u.User.ID})
		require.JSONEq(t, `{"userUpdate":{"user":{"roles":["SALESMAN"]},"errors":[]}}`, string(r.Data))
		require.Equal(t, 401, e.Query(salesman, `{ viewer { app } }`, nil).Status)
	})
}

func TestPartyUserCreateRaceOnOnePhone(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d1 := partyID(t, e, hq, "D-0001")
		const n = 8
		codes := make(chan []string, n)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if ctx.Err() == nil {
					codes <- userCreate(t, e, hq, map[string]any{"partyId": d1, "phone": "13700000009", "name": "同号", "roles": []string{"DISTRIBUTOR_STAFF"}, "password": "Secret-123"}).codes()
				}
			})
		}
		wg.Wait()
		close(codes)
		created := 0
		for c := range codes {
			if len(c) == 0 {
				created++
			} else {
				require.Equal(t, []string{"PHONE_TAKEN"}, c)
			}
		}
		require.Equal(t, 1, created)
	})
}

// A profile edit racing a suspension must not write the old status back.
func TestPartyUpdateNeverUndoesASuspension(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		for i := range 5 {
			id := partyID(t, e, hq, fmt.Sprintf("S-%04d", 10+i))
			var wg sync.WaitGroup
			wg.Go(func() {
				e.Query(hq, `mutation($id: ID!) { partyStatusChange(id: $id, input: {status: SUSPENDED, reason: "race"}) { errors { code } } }`, map[string]any{"id": id})
			})
			for range 3 {
				wg.Go(func() {
					e.Query(hq, `mutation($id: ID!) { partyUpdate(id: $id, input: {grade: "B"}) { errors { code } } }`, map[string]any{"id": id})
				})
			}
			wg.Wait()
			r := e.Query(hq, `query($id: ID!) { party(id: $id) { status grade } }`, map[string]any{"id": id})
			require.JSONEq(t, `{"party":{"status":"SUSPENDED","grade":"B"}}`, string(r.Data))
		}
	})
}

func TestPartyGuardsAgainstLockingHQOut(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		hqID := partyID(t, e, hq, "HQ-ZJ")
		r := e.Query(hq, `mutation($id: ID!) { partyStatusChange(id: $id, input: {status: SUSPENDED, reason: "oops"}) { errors { code } } }`, map[string]any{"id": hqID})
		require.JSONEq(t, `{"partyStatusChange":{"errors":[{"code":"INVALID_STATUS_TRANSITION"}]}}`, string(r.Data))

		var d struct {
			Viewer struct{ User struct{ ID string } }
		}
		e.Query(hq, `{ viewer { user { id } } }`, nil).Decode(t, &d)
		r = e.Query(hq, `mutation($id: ID!) { userUpdate(id: $id, input: {status: DISABLED, reason: "leaving"}) { errors { code } } }`, map[string]any{"id": d.Viewer.User.ID})
		require.JSONEq(t, `{"userUpdate":{"errors":[{"code":"LAST_ADMIN"}]}}`, string(r.Data))
		r = e.Query(hq, `mutation($id: ID!) { userUpdate(id: $id, input: {roles: [FINANCE], reason: "leaving"}) { errors { code } } }`, map[string]any{"id": d.Viewer.User.ID})
		require.JSONEq(t, `{"userUpdate":{"errors":[{"code":"LAST_ADMIN"}]}}`, string(r.Data))

		// HQ roles belong to HQ's own people: a branch user may not hold them.
		br := partyID(t, e, hq, "BR-NB")
		require.Equal(t, []string{"ROLE_NOT_ALLOWED"}, userCreate(t, e, hq, map[string]any{
			"partyId": br, "phone": "13900000077", "name": "分公司财务", "roles": []string{"FINANCE"}, "password": "Secret-123"}).codes())
	})
}

// A page of users with their assigned stores costs the same number of SQL
// statements whatever its size: the stores come through batched loaders.
func TestPartyAssignedStoresAreBatched(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{SteadyBatches: true}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		cost := func(first int) int64 {
			best := int64(-1) // best of three: a busy machine may split one loader batch
			for range 3 {
				before := e.Server.DB.Queries()
				r := e.Query(hq, `query($n: Int) { users(first: $n) { edges { node { name assignedStores(first: 5) { totalCount edges { node { code } } } } } } }`, map[string]any{"n": first})
				require.Empty(t, r.Errors)
				if n := e.Server.DB.Queries() - before; best < 0 || n < best {
					best = n
				}
			}
			return best
		}
		// auth check, users page, stores, counts; a loader batch can split in
		// two when the machine is busy, so the bound has room for that, and is
		// far below the 2 + 2n of one query per user.
		require.LessOrEqual(t, cost(2), int64(6))
		require.LessOrEqual(t, cost(20), int64(6))

		r := e.Query(hq, `{ users(filter: {role: SALESMAN}) { edges { node { phone assignedStores(first: 2) { totalCount pageInfo { hasNextPage } edges { node { code } } } } } } }`, nil)
		var d struct {
			Users struct {
				Edges []struct {
					Node struct {
						Phone          string
						AssignedStores struct {
							TotalCount int
							PageInfo   struct{ HasNextPage bool }
							Edges      []struct{ Node struct{ Code string } }
						}
					}
				}
			}
		}
		r.Decode(t, &d)
		require.Len(t, d.Users.Edges, 3)
		for _, ed := range d.Users.Edges {
			a := ed.Node.AssignedStores
			require.Equal(t, 5, a.TotalCount, ed.Node.Phone)
			require.Len(t, a.Edges, 2)
			require.True(t, a.PageInfo.HasNextPage)
		}
	})
}
