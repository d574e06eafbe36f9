package catalog

import (
	"github.com/uptrace/bun"

	"channelhub/internal/party"
)

// targets is the SQL condition "this rule's target covers the buyer"; the
// same five target kinds serve price lists and promotions.
func targets(alias string, b *party.Party) (string, []any) {
	a := bun.Safe(alias)
	return "(?.target_kind = 'ALL' OR (?.target_kind = 'CHANNEL_TYPE' AND ?.target_value = ?) OR " +
			"(?.target_kind = 'GRADE' AND ?.target_value = ?) OR (?.target_kind = 'REGION' AND ?.target_value = ?) OR " +
			"(?.target_kind = 'PARTY' AND ?.target_value = ?))",
		[]any{a, a, a, string(b.ChannelType), a, a, b.Grade, a, a, b.Region, a, a, b.ID.String()}
}

// Visible limits q (selecting skus AS s) to what buyer may see and order:
// on shelf, covered by an INCLUDE rule for the buyer, and by no EXCLUDE rule.
// A rule covers a SKU when it names the SKU, or a category on the SKU's
// category path. The rule set is evaluated in the database, so a page costs
// one query however many rules exist.
func Visible(q *bun.SelectQuery, buyer *party.Party) *bun.SelectQuery {
	cond, args := visibleCond(buyer)
	return q.Where(cond, args...)
}

// visibleCond is Visible's condition on skus AS s, for a WHERE or a column.
func visibleCond(buyer *party.Party) (string, []any) {
	cond, args := targets("r", buyer)
	covers := "EXISTS (SELECT 1 FROM catalog_rules r JOIN categories rc ON rc.id = s.category_id WHERE r.effect = ? AND " + cond +
		" AND (r.sku_id = s.id OR (r.category_id IS NOT NULL AND rc.path LIKE '%/' || CAST(r.category_id AS TEXT) || '/%')))"
	all := append(append([]any{Include}, args...), Exclude)
	return "(s.on_shelf AND " + covers + " AND NOT " + covers + ")", append(all, args...)
}
