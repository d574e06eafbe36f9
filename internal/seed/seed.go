// Package seed builds the demo channel that `go run ./cmd/channelhub` starts with.
package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/i18n"
	"channelhub/internal/party"
)

// DemoPassword is every demo user's password.
const DemoPassword = "channelhub-demo"

// Login is one printed demo account.
type Login struct {
	Phone string
	Role  auth.Role
	What  string
}

// Logins lists the accounts printed at start and in the README.
var Logins = []Login{
	{"13800000000", auth.RoleHQAdmin, "HQ admin"},
	{"13800000001", auth.RoleDistributorAdmin, "admin of the first distributor"},
	{"13800000002", auth.RoleDistributorAdmin, "admin of the second distributor"},
	{"13800000011", auth.RoleStoreManager, "manager of a store supplied by the first distributor"},
	{"13800000021", auth.RoleSalesman, "salesman"},
	{"13800000031", auth.RoleFinance, "finance"},
	{"13800000041", auth.RoleSalesOps, "sales ops"},
	{"13800000051", auth.RoleGoodsControl, "goods control"},
}

type city struct {
	name     string
	district string
	lat, lng float64
}

var cities = []city{
	{"杭州市", "西湖区", 30.2741, 120.1551},
	{"宁波市", "海曙区", 29.8683, 121.5440},
	{"温州市", "鹿城区", 28.0006, 120.6722},
	{"绍兴市", "越城区", 29.9958, 120.5861},
}

// Demo seeds the demo channel unless the database already holds parties.
// It reports whether it seeded. Everything is written in one transaction.
func Demo(ctx context.Context, db *database.DB, hasher *auth.PasswordHasher) (bool, error) {
	n, err := db.NewSelect().Model((*party.Party)(nil)).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("seed: count parties: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	hash, err := hasher.Hash(DemoPassword)
	if err != nil {
		return false, fmt.Errorf("seed: hash: %w", err)
	}
	b := &builder{now: time.Now().UTC().Truncate(time.Microsecond), hash: hash, ctx: i18n.WithLanguage(ctx, "zh-CN")}
	b.build()
	b.catalogue = b.buildCatalogue()
	b.pricing = b.buildPricing(b.catalogue, b.hq, b.d1, b.d2)
	b.stock = b.buildStock(b.catalogue, b.hq, b.d1)
	accounts, entries := b.buildCredit()
	err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&b.parties).Exec(ctx); err != nil {
			return fmt.Errorf("seed: parties: %w", err)
		}
		if _, err := tx.NewInsert().Model(&b.users).Exec(ctx); err != nil {
			return fmt.Errorf("seed: users: %w", err)
		}
		if err := insertCatalogue(ctx, tx, b.catalogue); err != nil {
			return err
		}
		if err := insertPricing(ctx, tx, b.pricing); err != nil {
			return err
		}
		if err := insertStock(ctx, tx, b.stock); err != nil {
			return err
		}
		if err := insertSerials(ctx, tx, b); err != nil {
			return err
		}
		if err := insertCredit(ctx, tx, accounts, entries); err != nil {
			return err
		}
		for _, a := range b.assignments {
			if _, err := tx.NewInsert().Table("salesman_stores").Model(&map[string]any{
				"user_id": a[0], "store_id": a[1], "created_at": b.now,
			}).Exec(ctx); err != nil {
				return fmt.Errorf("seed: assignments: %w", err)
			}
		}
		return b.insertVisits(ctx, tx)
	})
	return err == nil, err
}

type builder struct {
	ctx         context.Context
	now         time.Time
	hash        string
	parties     []*party.Party
	users       []*party.User
	assignments [][2]uuid.UUID
	catalogue   *catalogue
	pricing     *pricingData
	stock       *stockData
	hq, d1, d2  *party.Party
}

func (b *builder) t(id string, data map[string]any) string { return i18n.T(b.ctx, id, data) }

func (b *builder) party(kind party.Kind, code, name string, parent *party.Party, ch party.ChannelType, c city) *party.Party {
	p := &party.Party{
		ID: uuid.Must(uuid.NewV7()), Kind: kind, Code: code, Name: name, ChannelType: ch, Grade: "A",
		Region: "华东", Province: "浙江省", City: c.name, District: c.district, Street: b.t("seed.street", nil),
		Status: party.StatusActive, CreatedAt: b.now, UpdatedAt: b.now,
	}
	p.Path = "/" + p.ID.String() + "/"
	if parent != nil {
		p.ParentID = &parent.ID
		p.Path = parent.Path + p.ID.String() + "/"
		if kind == party.KindDistributor {
			p.Level = 1
			if parent.Kind == party.KindDistributor {
				p.Level = 2
			}
		}
	}
	b.parties = append(b.parties, p)
	return p
}

func (b *builder) user(p *party.Party, phone, name string, roles ...auth.Role) *party.User {
	u := &party.User{
		ID: uuid.Must(uuid.NewV7()), PartyID: p.ID, Phone: phone, Name: name, Roles: roles, PasswordHash: b.hash,
		Status: party.UserActive, SessionVersion: 1, PasswordChangedAt: b.now, CreatedAt: b.now, UpdatedAt: b.now,
	}
	b.users = append(b.users, u)
	return u
}

func (b *builder) build() {
	hq := b.party(party.KindHQ, "HQ-ZJ", b.t("seed.hq", nil), nil, party.ChannelAgent, cities[0])
	br1 := b.party(party.KindBranch, "BR-HZ", b.t("seed.branch", map[string]any{"City": "杭州"}), hq, party.ChannelAgent, cities[0])
	br2 := b.party(party.KindBranch, "BR-NB", b.t("seed.branch", map[string]any{"City": "宁波"}), hq, party.ChannelAgent, cities[1])
	d1 := b.party(party.KindDistributor, "D-0001", b.t("seed.distributor", map[string]any{"Name": "西湖通讯"}), br1, party.ChannelDistributor, cities[0])
	d2 := b.party(party.KindDistributor, "D-0002", b.t("seed.distributor", map[string]any{"Name": "甬城数码"}), br2, party.ChannelDistributor, cities[1])
	d3 := b.party(party.KindDistributor, "D-0003", b.t("seed.distributor", map[string]any{"Name": "瓯江电讯"}), br1, party.ChannelOperator, cities[2])
	d4 := b.party(party.KindDistributor, "D-0004", b.t("seed.distributor", map[string]any{"Name": "越州手机"}), d1, party.ChannelDistributor, cities[3])
	d3.Grade, d4.Grade = "B", "B"
	b.hq, b.d1, b.d2 = hq, d1, d2
	dists := []*party.Party{d1, d2, d3, d4}
	var stores []*party.Party
	for i := range 20 {
		d := dists[i%4]
		c := cities[i%4]
		s := b.party(party.KindStore, fmt.Sprintf("S-%04d", i+1),
			b.t("seed.store", map[string]any{"City": c.name, "N": i + 1}), d, party.ChannelRetailer, c)
		lat, lng := c.lat+float64(i)*0.003, c.lng+float64(i)*0.004
		s.Latitude, s.Longitude = &lat, &lng
		stores = append(stores, s)
	}
	b.user(hq, "13800000000", b.t("seed.user.hqAdmin", nil), auth.RoleHQAdmin)
	b.user(hq, "13800000031", b.t("seed.user.finance", nil), auth.RoleFinance)
	b.user(hq, "13800000041", b.t("seed.user.salesOps", nil), auth.RoleSalesOps)
	b.user(hq, "13800000051", b.t("seed.user.goodsControl", nil), auth.RoleGoodsControl)
	b.user(br1, "13800000061", b.t("seed.user.branchManager", nil), auth.RoleBranchManager)
	b.user(d1, "13800000001", b.t("seed.user.distributorAdmin", map[string]any{"N": 1}), auth.RoleDistributorAdmin)
	b.user(d2, "13800000002", b.t("seed.user.distributorAdmin", map[string]any{"N": 2}), auth.RoleDistributorAdmin)
	b.user(d3, "13800000003", b.t("seed.user.distributorAdmin", map[string]any{"N": 3}), auth.RoleDistributorAdmin)
	b.user(d4, "13800000004", b.t("seed.user.distributorAdmin", map[string]any{"N": 4}), auth.RoleDistributorAdmin)
	b.user(d1, "13800000005", b.t("seed.user.distributorStaff", nil), auth.RoleDistributorStaff)
	// stores[0] is supplied by d1 (i%4 == 0).
	b.user(stores[0], "13800000011", b.t("seed.user.storeManager", nil), auth.RoleStoreManager)
	b.user(stores[0], "13800000012", b.t("seed.user.storeStaff", nil), auth.RoleStoreStaff)
	b.user(stores[1], "13800000013", b.t("seed.user.storeManager", nil), auth.RoleStoreManager)
	salesmen := []*party.User{
		b.user(br1, "13800000021", b.t("seed.user.salesman", map[string]any{"N": 1}), auth.RoleSalesman),
		b.user(br2, "13800000022", b.t("seed.user.salesman", map[string]any{"N": 2}), auth.RoleSalesman),
		b.user(d3, "13800000023", b.t("seed.user.salesman", map[string]any{"N": 3}), auth.RoleSalesman),
	}
	for i, s := range stores {
		if i%4 == 3 { // d4's stores are the level-2 distributor's own business
			continue
		}
		b.assignments = append(b.assignments, [2]uuid.UUID{salesmen[i%3].ID, s.ID})
	}
}
