package party

import (
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
)

// Scope limits q to rows whose party column col (a trusted SQL expression such
// as "p.id") the principal may see. It is the one answer to "which parties may
// this principal see", used by every service:
//   - HQ roles: everything;
//   - BRANCH_MANAGER: the branch's subtree;
//   - DISTRIBUTOR_*: its own party and the parties it supplies;
//   - STORE_*: its store;
//   - SALESMAN: its assigned stores, and its own party (so the app can show
//     whom the salesman works for; DESIGN names only the stores).
//
// A principal holding several roles sees the union. The rule runs inside the
// database as subqueries, so it costs no extra round trip.
func Scope(q *bun.SelectQuery, p auth.Principal, col string) *bun.SelectQuery {
	if p.IsHQ() {
		return q
	}
	c := bun.Safe(col)
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("1 = 0")
		if p.Has(auth.RoleBranchManager) {
			if p.PartyPath != "" { // a literal prefix, so PostgreSQL can use the path index
				q = q.WhereOr("? IN (SELECT sc.id FROM parties sc WHERE sc.path LIKE ?)", c, p.PartyPath+"%")
			} else {
				q = q.WhereOr("? IN (SELECT sc.id FROM parties sc, parties sme WHERE sme.id = ? AND sc.path LIKE sme.path || '%')", c, p.PartyID)
			}
		}
		if p.Has(auth.RoleDistributorAdmin, auth.RoleDistributorStaff) {
			q = q.WhereOr("? IN (SELECT sc.id FROM parties sc WHERE sc.id = ? OR sc.parent_id = ?)", c, p.PartyID, p.PartyID)
		}
		if p.Has(auth.RoleStoreManager, auth.RoleStoreStaff) {
			q = q.WhereOr("? = ?", c, p.PartyID)
		}
		if p.Has(auth.RoleSalesman) {
			q = q.WhereOr("? = ?", c, p.PartyID).
				WhereOr("? IN (SELECT ss.store_id FROM salesman_stores ss WHERE ss.user_id = ?)", c, p.UserID)
		}
		return q
	})
}
