package seed

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/catalog"
	"channelhub/internal/serial"
)

// demoSerialProduct is the product whose SKUs carry demo serials: every unit
// of its stock in HQ-WH1 and D1-WH1 has an IMEI-like 15-digit number, so the
// demo can ship, receive and trace real units. Other serialised SKUs get
// their serials through serialReceive.
const demoSerialProduct = "PH01-"

// insertSerials registers the demo units with their STOCKED_IN events.
func insertSerials(ctx context.Context, tx bun.Tx, b *builder) error {
	skus := map[uuid.UUID]*catalog.SKU{}
	for _, k := range b.catalogue.skus {
		if k.Serialised && strings.HasPrefix(k.Code, demoSerialProduct) {
			skus[k.ID] = k
		}
	}
	owner := map[uuid.UUID]uuid.UUID{}
	for _, w := range b.stock.warehouses {
		owner[w.ID] = w.PartyID
	}
	doc := serial.Doc{Type: "STOCK_IN", Number: "SEED", At: b.now}
	for wi, w := range b.stock.warehouses {
		for ki, lv := range b.stock.levels {
			if lv.WarehouseID != w.ID || skus[lv.SKUID] == nil {
				continue
			}
			numbers := make([]string, lv.OnHand)
			for i := range numbers {
				numbers[i] = fmt.Sprintf("86%d%04d%08d", wi, ki, i+1)
			}
			if _, err := serial.Insert(ctx, tx, numbers, lv.SKUID, owner[w.ID], w.ID, doc); err != nil {
				return fmt.Errorf("seed: serials: %w", err)
			}
		}
	}
	// Opening stock outside HQ is its holder's own territory, as if received.
	if _, err := tx.NewUpdate().Table("serials").Set("territory_party_id = holder_party_id").
		Where("holder_party_id <> ?", b.hq.ID).Exec(ctx); err != nil {
		return fmt.Errorf("seed: serial territories: %w", err)
	}
	return nil
}
