package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/graph/model"
	"channelhub/internal/i18n"
)

// Every code a client can receive has a text in both languages.
func TestMessagesCoverEveryCode(t *testing.T) {
	t.Parallel()
	var ids []string
	for _, c := range model.AllErrorCode {
		ids = append(ids, "error."+c.String())
	}
	for _, c := range model.AllAuthErrorCode {
		ids = append(ids, "auth."+c.String())
	}
	for _, c := range model.AllPartyErrorCode {
		ids = append(ids, "party."+c.String())
	}
	for _, c := range model.AllUserErrorCode {
		ids = append(ids, "user."+c.String())
	}
	for _, c := range model.AllCatalogErrorCode {
		ids = append(ids, "catalog."+c.String())
	}
	for _, c := range model.AllPricingErrorCode {
		ids = append(ids, "pricing."+c.String())
	}
	for _, c := range model.AllCartLineProblem {
		ids = append(ids, "cart."+c.String())
	}
	for _, c := range model.AllInventoryErrorCode {
		ids = append(ids, "inventory."+c.String())
	}
	for _, c := range model.AllShipmentErrorCode {
		ids = append(ids, "shipment."+c.String())
	}
	for _, c := range model.AllOrderErrorCode {
		ids = append(ids, "order."+c.String())
	}
	for _, c := range model.AllTransferErrorCode {
		ids = append(ids, "transfer."+c.String())
	}
	for _, c := range model.AllDiversionErrorCode {
		ids = append(ids, "diversion."+c.String())
	}
	for _, id := range ids {
		require.True(t, i18n.Has(id), "message %s missing in zh-CN or en", id)
	}
}
