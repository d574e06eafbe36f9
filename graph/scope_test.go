package graph_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// The demo channel (internal/seed): HQ-ZJ; branches BR-HZ and BR-NB;
// distributors D-0001 (BR-HZ), D-0002 (BR-NB), D-0003 (BR-HZ) and D-0004
// (level 2, under D-0001); stores S-0001..S-0020, store i supplied by
// distributor ((i-1)%4)+1.

// scopeLogin is a demo account the scope tests sign in as.
type scopeLogin struct {
	phone string
	app   auth.App
}

var scopeLogins = []scopeLogin{
	{"13800000000", auth.AppConsole},     // HQ_ADMIN
	{"13800000041", auth.AppConsole},     // SALES_OPS
	{"13800000031", auth.AppConsole},     // FINANCE
	{"13800000051", auth.AppConsole},     // GOODS_CONTROL
	{"13800000061", auth.AppConsole},     // BRANCH_MANAGER of BR-HZ
	{"13800000001", auth.AppDistributor}, // DISTRIBUTOR_ADMIN of D-0001
	{"13800000002", auth.AppDistributor}, // DISTRIBUTOR_ADMIN of D-0002
	{"13800000005", auth.AppDistributor}, // DISTRIBUTOR_STAFF of D-0001
	{"13800000011", auth.AppStore},       // STORE_MANAGER of S-0001
	{"13800000012", auth.AppStore},       // STORE_STAFF of S-0001
	{"13800000013", auth.AppStore},       // STORE_MANAGER of S-0002
	{"13800000021", auth.AppSalesman},    // SALESMAN of BR-HZ
	{"13800000022", auth.AppSalesman},    // SALESMAN of BR-NB
	{"13800000023", auth.AppSalesman},    // SALESMAN of D-0003
}

// scopeStoresOf lists the codes of the stores supplied by distributors ds (1..4).
func scopeStoresOf(ds ...int) []string {
	var out []string
	for i := 1; i <= 20; i++ {
		if slices.Contains(ds, (i-1)%4+1) {
			out = append(out, fmt.Sprintf("S-%04d", i))
		}
	}
	return out
}

func scopeCodes(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var (
	scopeDistributors = []string{"D-0001", "D-0002", "D-0003", "D-0004"}
	scopeAllParties   = scopeCodes([]string{"HQ-ZJ", "BR-HZ", "BR-NB"}, scopeDistributors, scopeStoresOf(1, 2, 3, 4))
	// Salesman assignments from seed.go: stores of D-0004 are nobody's; the
	// others go round-robin to salesmen 21, 22, 23.
	scopeSalesman21 = []string{"S-0001", "S-0007", "S-0010", "S-0013", "S-0019"}
	scopeSalesman22 = []string{"S-0002", "S-0005", "S-0011", "S-0014", "S-0017"}
	scopeSalesman23 = []string{"S-0003", "S-0006", "S-0009", "S-0015", "S-0018"}
	// What each demo user sees in parties.
	scopePartiesByPhone = map[string][]string{
		"13800000000": scopeAllParties,
		"13800000041": scopeAllParties,
		"13800000031": scopeAllParties,
		"13800000051": scopeAllParties,
		"13800000061": scopeCodes([]string{"BR-HZ", "D-0001", "D-0003", "D-0004"}, scopeStoresOf(1, 3, 4)),
		"13800000001": scopeCodes([]string{"D-0001", "D-0004"}, scopeStoresOf(1)),
		"13800000005": scopeCodes([]string{"D-0001", "D-0004"}, scopeStoresOf(1)),
		"13800000002": scopeCodes([]string{"D-0002"}, scopeStoresOf(2)),
		"13800000011": {"S-0001"},
		"13800000012": {"S-0001"},
		"13800000013": {"S-0002"},
		"13800000021": scopeCodes([]string{"BR-HZ"}, scopeSalesman21),
		"13800000022": scopeCodes([]string{"BR-NB"}, scopeSalesman22),
		"13800000023": scopeCodes([]string{"D-0003"}, scopeSalesman23),
	}
	scopeAllUsers = []string{
		"13800000000", "13800000031", "13800000041", "13800000051", "13800000061",
		"13800000001", "13800000002", "13800000003", "13800000004", "13800000005",
		"13800000011", "13800000012", "13800000013", "13800000021", "13800000022", "13800000023",
	}
)

// scopeBundle is one seeded server with every demo account signed in.
type scopeBundle struct {
	e      *apitest.Env
	token  map[string]string // phone → access token
	party  map[string]string // code → global id
	user   map[string]string // phone → global id
	byName []scopeParty      // every party, in the server's name order
}

type scopeParty struct {
	ID, Code, Name string
}

func scopeSetup(t *testing.T, e *apitest.Env) *scopeBundle {
	t.Helper()
	b := &scopeBundle{e: e, token: map[string]string{}, party: map[string]string{}, user: map[string]string{}}
	for _, l := range scopeLogins {
		b.token[l.phone] = e.Login(l.phone, l.app).AccessToken
	}
	r := e.Query(b.token["13800000000"], `{ parties(first: 100) { edges { node { id code name } } pageInfo { hasNextPage } }
		users(first: 100) { edges { node { id phone } } pageInfo { hasNextPage } } }`, nil)
	require.Empty(t, r.Errors)
	var d struct {
		Parties struct {
			Edges    []struct{ Node scopeParty }
			PageInfo struct{ HasNextPage bool }
		}
		Users struct {
			Edges    []struct{ Node struct{ ID, Phone string } }
			PageInfo struct{ HasNextPage bool }
		}
	}
	r.Decode(t, &d)
	require.False(t, d.Parties.PageInfo.HasNextPage)
	require.False(t, d.Users.PageInfo.HasNextPage)
	for _, ed := range d.Parties.Edges {
		b.party[ed.Node.Code] = ed.Node.ID
		b.byName = append(b.byName, ed.Node)
	}
	for _, ed := range d.Users.Edges {
		b.user[ed.Node.Phone] = ed.Node.ID
	}
	require.Len(t, b.party, 27)
	require.Len(t, b.user, 16)
	return b
}

// scopeFor returns a copy of b whose requests report to t.
func scopeFor(t *testing.T, b *scopeBundle) *scopeBundle {
	c := *b
	e := *b.e
	e.T = t
	c.e = &e
	return &c
}

// TestScope checks what each role sees, paging, filters and the per-request
// dataloader, on every backend.
func TestScope(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		b := scopeSetup(t, e)
		// Not parallel: it reads the database's statement counter, so nothing
		// else may run against this server meanwhile. Parallel siblings wait.
		t.Run("dataloader", func(t *testing.T) { scopeDataloader(t, scopeFor(t, b)) })
		for name, fn := range map[string]func(*testing.T, *scopeBundle){
			"parties by role":  scopePartiesByRole,
			"out of scope":     scopeOutOfScope,
			"users":            scopeUsers,
			"paging":           scopePaging,
			"invalid page":     scopeInvalidPage,
			"filters":          scopeFilters,
			"filters in scope": scopeFiltersInScope,
			"user filters":     scopeUserFilters,
			"search too long":  scopeSearchTooLong,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fn(t, scopeFor(t, b))
			})
		}
	})
}

const scopePartiesQuery = `query($first: Int, $after: String, $filter: PartyFilter) {
	parties(first: $first, after: $after, filter: $filter) {
		totalCount edges { cursor node { id code name } } pageInfo { hasNextPage endCursor } } }`

type scopePartyPage struct {
	Parties struct {
		TotalCount int
		Edges      []struct {
			Cursor string
			Node   scopeParty
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

func (p scopePartyPage) codes() []string {
	out := make([]string, len(p.Parties.Edges))
	for i, e := range p.Parties.Edges {
		out[i] = e.Node.Code
	}
	return out
}

// scopeList asks for one page of parties as phone and fails on any top-level error.
func scopeList(t *testing.T, b *scopeBundle, phone string, vars map[string]any) scopePartyPage {
	t.Helper()
	r := b.e.Query(b.token[phone], scopePartiesQuery, vars)
	require.Emptyf(t, r.Errors, "parties %v as %s", vars, phone)
	var p scopePartyPage
	r.Decode(t, &p)
	return p
}

func scopePartiesByRole(t *testing.T, b *scopeBundle) {
	for _, l := range scopeLogins {
		want := scopePartiesByPhone[l.phone]
		require.NotEmpty(t, want, l.phone)
		p := scopeList(t, b, l.phone, map[string]any{"first": 100})
		require.Equalf(t, len(want), p.Parties.TotalCount, "totalCount as %s", l.phone)
		require.ElementsMatchf(t, want, p.codes(), "parties as %s", l.phone)
		require.Falsef(t, p.Parties.PageInfo.HasNextPage, "as %s", l.phone)
	}
	require.Len(t, scopeAllParties, 27)
	require.Len(t, scopePartiesByPhone["13800000061"], 19)
	require.Len(t, scopePartiesByPhone["13800000001"], 7)
	require.Len(t, scopePartiesByPhone["13800000002"], 6)
	require.Len(t, scopePartiesByPhone["13800000021"], 6)
}

// scopeHidden asserts that phone can neither read nor detect the object with global id gid.
func scopeHidden(t *testing.T, b *scopeBundle, phone, field, gid string) {
	t.Helper()
	r := b.e.Query(b.token[phone], fmt.Sprintf(`query($id: ID!) { %s(id: $id) { id } }`, field), map[string]any{"id": gid})
	require.Equalf(t, []string{"NOT_FOUND"}, r.Codes(), "%s(%s) as %s: %s", field, gid, phone, r.Data)
	require.Equalf(t, []any{field}, r.Errors[0].Path, "%s as %s", field, phone)
	require.JSONEqf(t, fmt.Sprintf(`{%q: null}`, field), string(r.Data), "%s(%s) as %s", field, gid, phone)

	// Indistinguishable from an id that does not exist.
	typ, _, _ := strings.Cut(gid, ":")
	absent := b.e.Query(b.token[phone], fmt.Sprintf(`query($id: ID!) { %s(id: $id) { id } }`, field),
		map[string]any{"id": typ + ":" + uuid.Must(uuid.NewV7()).String()})
	require.Equal(t, absent.Errors, r.Errors, "%s: out of scope must look like absent", field)
	require.JSONEq(t, string(absent.Data), string(r.Data))

	r = b.e.Query(b.token[phone], `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": gid})
	require.Emptyf(t, r.Errors, "node(%s) as %s", gid, phone)
	require.JSONEqf(t, `{"node": null}`, string(r.Data), "node(%s) as %s", gid, phone)
}

// scopeVisible asserts that phone reads party code through party(id) and node(id).
func scopeVisible(t *testing.T, b *scopeBundle, phone, code string) {
	t.Helper()
	id := b.party[code]
	r := b.e.Query(b.token[phone], `query($id: ID!) { party(id: $id) { code } node(id: $id) { id ... on Party { code } } }`,
		map[string]any{"id": id})
	require.Emptyf(t, r.Errors, "party %s as %s", code, phone)
	require.JSONEqf(t, fmt.Sprintf(`{"party": {"code": %q}, "node": {"id": %q, "code": %q}}`, code, id, code), string(r.Data),
		"party %s as %s", code, phone)
}

func scopeOutOfScope(t *testing.T, b *scopeBundle) {
	for _, c := range []struct {
		phone   string
		hidden  []string
		visible []string
	}{
		{"13800000001", []string{"D-0002", "D-0003", "BR-HZ", "HQ-ZJ", "S-0002", "S-0004"}, []string{"D-0001", "D-0004", "S-0005"}},
		{"13800000002", []string{"D-0001", "D-0004", "BR-NB", "S-0001"}, []string{"D-0002", "S-0006"}},
		{"13800000011", []string{"S-0002", "S-0005", "D-0001"}, []string{"S-0001"}},
		{"13800000012", []string{"S-0002", "D-0001"}, []string{"S-0001"}},
		{"13800000021", []string{"S-0002", "S-0004", "S-0005", "D-0001", "BR-NB"}, []string{"BR-HZ", "S-0001", "S-0010"}},
		{"13800000023", []string{"S-0001", "S-0007", "D-0001"}, []string{"D-0003", "S-0006"}},
		{"13800000061", []string{"HQ-ZJ", "BR-NB", "D-0002", "S-0002"}, []string{"BR-HZ", "D-0004", "S-0020"}},
	} {
		for _, code := range c.hidden {
			scopeHidden(t, b, c.phone, "party", b.party[code])
		}
		for _, code := range c.visible {
			scopeVisible(t, b, c.phone, code)
		}
	}

	// An edge to a party outside the scope is null, not an error.
	q := `query($id: ID!) { party(id: $id) { code parent { code } } }`
	r := b.e.Query(b.token["13800000001"], q, map[string]any{"id": b.party["D-0001"]})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"party": {"code": "D-0001", "parent": null}}`, string(r.Data))
	r = b.e.Query(b.token["13800000001"], q, map[string]any{"id": b.party["D-0004"]})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"party": {"code": "D-0004", "parent": {"code": "D-0001"}}}`, string(r.Data))
	r = b.e.Query(b.token["13800000000"], q, map[string]any{"id": b.party["D-0001"]})
	require.Empty(t, r.Errors)
	require.JSONEq(t, `{"party": {"code": "D-0001", "parent": {"code": "BR-HZ"}}}`, string(r.Data))
}

const scopeUsersQuery = `query($filter: UserFilter) { users(first: 100, filter: $filter) {
	totalCount edges { node { id phone party { code } } } pageInfo { hasNextPage } } }`

func scopeUsers(t *testing.T, b *scopeBundle) {
	all := scopeAllUsers
	for _, c := range []struct {
		phone string
		want  []string
	}{
		{"13800000000", all},
		{"13800000041", all},
		{"13800000061", []string{"13800000061", "13800000021", "13800000001", "13800000005", "13800000003",
			"13800000023", "13800000004", "13800000011", "13800000012"}},
		{"13800000001", []string{"13800000001", "13800000004", "13800000005", "13800000011", "13800000012"}},
		{"13800000002", []string{"13800000002", "13800000013"}},
		{"13800000011", []string{"13800000011", "13800000012"}},
		{"13800000013", []string{"13800000013"}},
	} {
		r := b.e.Query(b.token[c.phone], scopeUsersQuery, nil)
		require.Emptyf(t, r.Errors, "users as %s", c.phone)
		var d struct {
			Users struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Phone string
						Party struct{ Code string }
					}
				}
			}
		}
		r.Decode(t, &d)
		got := make([]string, len(d.Users.Edges))
		for i, ed := range d.Users.Edges {
			got[i] = ed.Node.Phone
			require.Containsf(t, scopePartiesByPhone[c.phone], ed.Node.Party.Code, "user %s of %s listed to %s",
				ed.Node.Phone, ed.Node.Party.Code, c.phone)
		}
		require.ElementsMatchf(t, c.want, got, "users as %s", c.phone)
		require.Equalf(t, len(c.want), d.Users.TotalCount, "users totalCount as %s", c.phone)
	}

	// A user of another party is NOT_FOUND, exactly like one that does not exist.
	for _, c := range []struct{ phone, other string }{
		{"13800000011", "13800000013"}, // store manager → manager of another store
		{"13800000011", "13800000001"}, // store manager → its own distributor's admin
		{"13800000001", "13800000002"}, // distributor admin → another distributor's admin
		{"13800000001", "13800000013"}, // distributor admin → a store it does not supply
		{"13800000002", "13800000011"},
		{"13800000061", "13800000022"}, // branch manager → a salesman of the other branch
	} {
		scopeHidden(t, b, c.phone, "user", b.user[c.other])
	}
	// A filter cannot widen the scope.
	r := b.e.Query(b.token["13800000001"], scopeUsersQuery, map[string]any{"filter": map[string]any{"partyId": b.party["D-0002"]}})
	require.Empty(t, r.Errors)
	require.Contains(t, string(r.Data), `"totalCount":0`)
}

func scopeUserFilters(t *testing.T, b *scopeBundle) {
	phones := func(phone string, filter map[string]any) []string {
		t.Helper()
		r := b.e.Query(b.token[phone], scopeUsersQuery, map[string]any{"filter": filter})
		require.Emptyf(t, r.Errors, "users %v as %s", filter, phone)
		var d struct {
			Users struct {
				TotalCount int
				Edges      []struct{ Node struct{ Phone string } }
			}
		}
		r.Decode(t, &d)
		out := []string{}
		for _, e := range d.Users.Edges {
			out = append(out, e.Node.Phone)
		}
		require.Lenf(t, out, d.Users.TotalCount, "users %v as %s", filter, phone)
		return out
	}
	salesmen := []string{"13800000021", "13800000022", "13800000023"}
	require.ElementsMatch(t, salesmen, phones("13800000000", map[string]any{"role": "SALESMAN"}))
	require.ElementsMatch(t, []string{"13800000041"}, phones("13800000000", map[string]any{"role": "SALES_OPS"}))
	require.ElementsMatch(t, []string{"13800000021", "13800000023"}, phones("13800000061", map[string]any{"role": "SALESMAN"})) // BR-HZ and D-0003
	require.ElementsMatch(t, scopeAllUsers, phones("13800000000", map[string]any{"status": "ACTIVE"}))
	require.Empty(t, phones("13800000000", map[string]any{"status": "DISABLED"}))
	require.ElementsMatch(t, salesmen, phones("13800000000", map[string]any{"search": "1380000002"}))
	require.ElementsMatch(t, []string{"13800000001", "13800000005"},
		phones("13800000001", map[string]any{"partyId": b.party["D-0001"]}))
	require.Empty(t, phones("13800000000", map[string]any{"search": "%"}))
	require.Empty(t, phones("13800000000", map[string]any{"search": "_"}))

	// A salesman's assigned stores are shown only as far as the reader's scope goes.
	assigned := func(phone string) []string {
		t.Helper()
		r := b.e.Query(b.token[phone], `query($id: ID!) { user(id: $id) {
			assignedStores(first: 100) { totalCount edges { node { code } } } } }`, map[string]any{"id": b.user["13800000021"]})
		require.Emptyf(t, r.Errors, "assignedStores as %s", phone)
		var d struct {
			User struct {
				AssignedStores struct {
					TotalCount int
					Edges      []struct{ Node struct{ Code string } }
				}
			}
		}
		r.Decode(t, &d)
		out := []string{}
		for _, e := range d.User.AssignedStores.Edges {
			out = append(out, e.Node.Code)
		}
		require.Lenf(t, out, d.User.AssignedStores.TotalCount, "assignedStores as %s", phone)
		return out
	}
	require.ElementsMatch(t, scopeSalesman21, assigned("13800000000"))
	require.ElementsMatch(t, []string{"S-0001", "S-0007", "S-0013", "S-0019"}, assigned("13800000061")) // S-0010 is BR-NB's
}

// scopeSearchTooLong: a search longer than its stated 64 characters is a bad
// request, not an internal fault.
func scopeSearchTooLong(t *testing.T, b *scopeBundle) {
	long := map[string]any{"search": strings.Repeat("a", 65)}
	for field, query := range map[string]string{"parties": scopePartiesQuery, "users": scopeUsersQuery} {
		t.Run(field, func(t *testing.T) {
			b := scopeFor(t, b)
			r := b.e.Query(b.token["13800000000"], query, map[string]any{"filter": long})
			require.Equalf(t, []string{"INVALID_REQUEST"}, r.Codes(), "%s search of 65 characters: %v", field, r.Errors)
		})
	}
}

// scopeWalk pages through parties as phone, size at a time, to the end.
func scopeWalk(t *testing.T, b *scopeBundle, phone string, size int) []scopeParty {
	t.Helper()
	var out []scopeParty
	vars := map[string]any{"first": size}
	for range 100 {
		p := scopeList(t, b, phone, vars)
		require.LessOrEqual(t, len(p.Parties.Edges), size)
		for _, e := range p.Parties.Edges {
			out = append(out, e.Node)
		}
		if !p.Parties.PageInfo.HasNextPage {
			if n := len(p.Parties.Edges); n > 0 {
				require.Equal(t, p.Parties.Edges[n-1].Cursor, *p.Parties.PageInfo.EndCursor)
			}
			return out
		}
		require.Len(t, p.Parties.Edges, size, "a page before the last is full")
		require.NotNil(t, p.Parties.PageInfo.EndCursor)
		require.Equal(t, p.Parties.Edges[len(p.Parties.Edges)-1].Cursor, *p.Parties.PageInfo.EndCursor)
		vars["after"] = *p.Parties.PageInfo.EndCursor
	}
	t.Fatalf("paging as %s did not end after 100 pages", phone)
	return nil
}

func scopePaging(t *testing.T, b *scopeBundle) {
	for _, c := range []struct {
		phone string
		size  int
	}{
		{"13800000000", 5}, {"13800000000", 1}, {"13800000000", 27}, {"13800000000", 100},
		{"13800000001", 2}, {"13800000061", 4}, {"13800000021", 5},
	} {
		got := scopeWalk(t, b, c.phone, c.size)
		want := scopePartiesByPhone[c.phone]
		require.Lenf(t, got, len(want), "walk as %s by %d", c.phone, c.size)
		seen := map[string]bool{}
		var sameOrder []scopeParty
		for i, p := range got {
			require.Falsef(t, seen[p.ID], "walk as %s by %d: %s twice", c.phone, c.size, p.Code)
			seen[p.ID] = true
			require.Contains(t, want, p.Code)
			if i > 0 { // name order, id breaking ties
				prev := got[i-1]
				require.Truef(t, prev.Name < p.Name || (prev.Name == p.Name && prev.ID < p.ID),
					"walk as %s by %d: %q before %q", c.phone, c.size, prev.Name, p.Name)
			}
		}
		for _, p := range b.byName {
			if slices.Contains(want, p.Code) {
				sameOrder = append(sameOrder, p)
			}
		}
		require.Equalf(t, sameOrder, got, "walk as %s by %d matches the one-page order", c.phone, c.size)
	}
}

func scopeInvalidPage(t *testing.T, b *scopeBundle) {
	wrongArity := base64.RawURLEncoding.EncodeToString([]byte(`["only-a-name"]`))
	tooLong := strings.Repeat("A", 600)
	for _, vars := range []map[string]any{
		{"first": 0}, {"first": -1}, {"first": 101}, {"first": 1000000},
		{"first": 5, "after": "garbage"}, {"first": 5, "after": "%%%"}, {"first": 5, "after": wrongArity},
		{"first": 5, "after": tooLong},
	} {
		for _, phone := range []string{"13800000000", "13800000011"} {
			r := b.e.Query(b.token[phone], scopePartiesQuery, vars)
			require.Equalf(t, []string{"INVALID_REQUEST"}, r.Codes(), "parties %v as %s: %v", vars, phone, r.Errors)
			require.Equal(t, "null", string(r.Data), "parties %v", vars)
		}
	}
	// Nested connections follow the same rule.
	r := b.e.Query(b.token["13800000000"], `query($id: ID!) { user(id: $id) { assignedStores(first: 0) { totalCount } } }`,
		map[string]any{"id": b.user["13800000021"]})
	require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes(), "assignedStores(first: 0): %v", r.Errors)
}

// scopeFilterCase is one filter and the parties it must return.
type scopeFilterCase struct {
	filter map[string]any
	want   []string
}

func scopeCheckFilters(t *testing.T, b *scopeBundle, phone string, cases []scopeFilterCase) {
	t.Helper()
	for _, c := range cases {
		p := scopeList(t, b, phone, map[string]any{"first": 100, "filter": c.filter})
		require.ElementsMatchf(t, c.want, p.codes(), "filter %v as %s", c.filter, phone)
		require.Equalf(t, len(c.want), p.Parties.TotalCount, "totalCount of filter %v as %s", c.filter, phone)
	}
}

func scopeFilters(t *testing.T, b *scopeBundle) {
	stores := scopeStoresOf(1, 2, 3, 4)
	var s001x []string
	for i := 10; i <= 19; i++ {
		s001x = append(s001x, fmt.Sprintf("S-%04d", i))
	}
	scopeCheckFilters(t, b, "13800000000", []scopeFilterCase{
		{map[string]any{"kind": "HQ"}, []string{"HQ-ZJ"}},
		{map[string]any{"kind": "BRANCH"}, []string{"BR-HZ", "BR-NB"}},
		{map[string]any{"kind": "DISTRIBUTOR"}, scopeDistributors},
		{map[string]any{"kind": "STORE"}, stores},
		{map[string]any{"status": "ACTIVE"}, scopeAllParties},
		{map[string]any{"status": "SUSPENDED"}, nil},
		{map[string]any{"status": "PENDING"}, nil},
		{map[string]any{"region": "华东"}, scopeAllParties},
		{map[string]any{"region": "华北"}, nil},
		{map[string]any{"region": "华"}, nil}, // exact, not a substring
		{map[string]any{"parentId": b.party["HQ-ZJ"]}, []string{"BR-HZ", "BR-NB"}},
		{map[string]any{"parentId": b.party["BR-HZ"]}, []string{"D-0001", "D-0003"}},
		{map[string]any{"parentId": b.party["D-0001"]}, scopeCodes([]string{"D-0004"}, scopeStoresOf(1))},
		{map[string]any{"parentId": b.party["D-0004"]}, scopeStoresOf(4)},
		{map[string]any{"parentId": b.party["S-0001"]}, nil},
		{map[string]any{"kind": "STORE", "parentId": b.party["D-0002"]}, scopeStoresOf(2)},
		{map[string]any{"kind": "DISTRIBUTOR", "parentId": b.party["D-0001"]}, []string{"D-0004"}},
		// search: case-insensitive substring of code or name
		{map[string]any{"search": "D-000"}, scopeDistributors},
		{map[string]any{"search": "d-000"}, scopeDistributors},
		{map[string]any{"search": "s-001"}, s001x},
		{map[string]any{"search": "S-0020"}, []string{"S-0020"}},
		{map[string]any{"search": "br-"}, []string{"BR-HZ", "BR-NB"}},
		{map[string]any{"search": "hq-zj"}, []string{"HQ-ZJ"}},
		{map[string]any{"search": "体验店"}, stores},
		{map[string]any{"search": "分公司"}, []string{"BR-HZ", "BR-NB"}},
		{map[string]any{"search": "宁波"}, scopeCodes([]string{"BR-NB"}, scopeStoresOf(2))},
		{map[string]any{"search": "no such party"}, nil},
		{map[string]any{"search": "", "kind": "BRANCH"}, []string{"BR-HZ", "BR-NB"}},
		// LIKE wildcards are literals
		{map[string]any{"search": "%"}, nil},
		{map[string]any{"search": "_"}, nil},
		{map[string]any{"search": "%%"}, nil},
		{map[string]any{"search": "S-00_1"}, nil},
		{map[string]any{"search": "S%1"}, nil},
		{map[string]any{"search": `\`}, nil},
		{map[string]any{"search": `\%`}, nil},
		{map[string]any{"search": "'"}, nil},
		{map[string]any{"search": strings.Repeat("体", 64)}, nil}, // 64 characters is the limit, inclusive
		{map[string]any{"search": "S", "kind": "BRANCH"}, nil},
	})

	// A malformed id is a bad request.
	for _, f := range []map[string]any{
		{"parentId": "not-an-id"},
		{"parentId": b.party["HQ-ZJ"][len("Party:"):]},
	} {
		r := b.e.Query(b.token["13800000000"], scopePartiesQuery, map[string]any{"filter": f})
		require.Equalf(t, []string{"INVALID_REQUEST"}, r.Codes(), "filter %v: %v", f, r.Errors)
	}
}

// scopeFiltersInScope: filters narrow the caller's scope and never widen it.
func scopeFiltersInScope(t *testing.T, b *scopeBundle) {
	scopeCheckFilters(t, b, "13800000001", []scopeFilterCase{
		{map[string]any{"kind": "STORE"}, scopeStoresOf(1)},
		{map[string]any{"kind": "DISTRIBUTOR"}, []string{"D-0001", "D-0004"}},
		{map[string]any{"kind": "BRANCH"}, nil},
		{map[string]any{"parentId": b.party["D-0001"]}, scopeCodes([]string{"D-0004"}, scopeStoresOf(1))},
		{map[string]any{"parentId": b.party["D-0004"]}, nil},
		{map[string]any{"parentId": b.party["D-0002"]}, nil},
		{map[string]any{"search": "s-00"}, scopeStoresOf(1)},
		{map[string]any{"search": "D-"}, []string{"D-0001", "D-0004"}},
	})
	scopeCheckFilters(t, b, "13800000002", []scopeFilterCase{
		{map[string]any{"parentId": b.party["D-0001"]}, nil},
		{map[string]any{"kind": "STORE"}, scopeStoresOf(2)},
	})
	scopeCheckFilters(t, b, "13800000061", []scopeFilterCase{
		{map[string]any{"kind": "BRANCH"}, []string{"BR-HZ"}},
		{map[string]any{"kind": "STORE", "parentId": b.party["D-0004"]}, scopeStoresOf(4)},
		{map[string]any{"parentId": b.party["BR-NB"]}, nil},
	})
	scopeCheckFilters(t, b, "13800000021", []scopeFilterCase{
		{map[string]any{"kind": "STORE"}, scopeSalesman21},
		{map[string]any{"parentId": b.party["D-0002"]}, []string{"S-0010"}},
	})
	scopeCheckFilters(t, b, "13800000011", []scopeFilterCase{
		{map[string]any{"search": "S-"}, []string{"S-0001"}},
		{map[string]any{"kind": "DISTRIBUTOR"}, nil},
	})
}

// scopeQueries runs one request and returns how many SQL statements it cost.
func scopeQueries(t *testing.T, b *scopeBundle, phone, query string, vars map[string]any) int64 {
	t.Helper()
	db := b.e.Server.DB
	before := db.Queries()
	r := b.e.Query(b.token[phone], query, vars)
	after := db.Queries()
	require.Empty(t, r.Errors, "%s", r.Data)
	var d struct {
		Parties struct {
			Edges []struct {
				Node struct {
					Code   string
					Parent *struct {
						Code   string
						Parent *struct{ Code string }
					}
				}
			}
		}
	}
	r.Decode(t, &d)
	require.Equal(t, vars["first"], len(d.Parties.Edges))
	for _, e := range d.Parties.Edges {
		if e.Node.Code != "HQ-ZJ" {
			require.NotNilf(t, e.Node.Parent, "parent of %s", e.Node.Code)
			if !strings.HasPrefix(e.Node.Code, "BR-") {
				require.NotNilf(t, e.Node.Parent.Parent, "grandparent of %s", e.Node.Code)
			}
		}
	}
	return after - before
}

// scopeDataloader: a page's edges to parents cost a constant number of SQL
// statements, however many rows the page holds: one to authenticate, one for
// the page, and at most one batch per level of parent nesting.
func scopeDataloader(t *testing.T, b *scopeBundle) {
	const q = `query($first: Int, $filter: PartyFilter) { parties(first: $first, filter: $filter) {
		edges { node { code parent { code name parent { code name } } } } } }`
	const bound = 1 + 1 + 2 // auth, page, two levels of parents
	for _, filter := range []map[string]any{nil, {"kind": "STORE"}} {
		cost := map[int]int64{}
		for _, first := range []int{5, 20} {
			// Batching waits a millisecond for a batch to fill; take the best of
			// three so a slow machine splitting one batch cannot fail the test.
			best := int64(-1)
			for range 3 {
				n := scopeQueries(t, b, "13800000000", q, map[string]any{"first": first, "filter": filter})
				if best < 0 || n < best {
					best = n
				}
			}
			cost[first] = best
			t.Logf("filter %v, first %d: %d SQL statements", filter, first, best)
			require.LessOrEqualf(t, best, int64(bound), "filter %v, first %d", filter, first)
		}
		// Without a filter the 20-row page holds the parents the grandparent
		// level asks for, so the per-request cache saves a batch there: the
		// cost may fall with the page size, never grow.
		require.LessOrEqualf(t, cost[20], cost[5], "filter %v: SQL statements grow with the page size", filter)
		if filter != nil {
			// Stores' ancestors are never rows of the page: same batches either way.
			require.Equalf(t, cost[5], cost[20], "filter %v", filter)
		}
	}
}
