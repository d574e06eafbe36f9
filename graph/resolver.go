package graph

import (
	"log/slog"
	"time"

	"channelhub/internal/auth"
	"channelhub/internal/cart"
	"channelhub/internal/catalog"
	"channelhub/internal/channel"
	"channelhub/internal/credit"
	"channelhub/internal/inventory"
	"channelhub/internal/notify"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
	"channelhub/internal/receipt"
	"channelhub/internal/serial"
	"channelhub/internal/shipment"
	"channelhub/internal/transfer"
	"channelhub/internal/visit"
)

// Resolver holds the services the thin resolvers call.
type Resolver struct {
	AuthService      *auth.Service
	PartyService     *party.Service
	CatalogService   *catalog.Service
	PricingService   *pricing.Service
	CartService      *cart.Service
	InventoryService *inventory.Service
	CreditService    *credit.Service
	OrderService     *order.Service
	Broker           Subscriber
	NotifyService    *notify.Service
	SerialService    *serial.Service
	ShipmentService  *shipment.Service
	ReceiptService   *receipt.Service
	TransferService  *transfer.Service
	Outbox           outbox.Admin
	VisitService     *visit.Service
	ChannelService   *channel.Service
	Currency         string
	Log              *slog.Logger
	BatchWait        time.Duration // loaders' gathering window (default 1 ms)
}
