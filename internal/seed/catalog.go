package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/catalog"
)

// catalogue is the demo catalogue: 200 SKUs in a realistic category tree.
type catalogue struct {
	categories []*catalog.Category
	products   []*catalog.Product
	skus       []*catalog.SKU
	rules      []*catalog.Rule
	byCode     map[string]*catalog.Category
}

type productLine struct {
	category, prefix, brand, unit string
	names                         []string
	variants                      [][]string // attribute values; the first column's name is variantKeys[0]
	variantKeys                   []string
	base                          int64 // fen
	step                          int64 // added per variant index of the last attribute
	pack, min                     int
	serialised                    bool
}

func (b *builder) category(c *catalogue, code, name string, parent *catalog.Category, order int) *catalog.Category {
	cat := &catalog.Category{ID: uuid.Must(uuid.NewV7()), Code: code, Name: name, SortOrder: order, CreatedAt: b.now, UpdatedAt: b.now}
	cat.Path = "/" + cat.ID.String() + "/"
	if parent != nil {
		cat.ParentID, cat.Path = &parent.ID, parent.Path+cat.ID.String()+"/"
	}
	c.categories = append(c.categories, cat)
	c.byCode[code] = cat
	return cat
}

func (b *builder) buildCatalogue() *catalogue {
	c := &catalogue{byCode: map[string]*catalog.Category{}}
	phone := b.category(c, "PHONE", b.t("seed.cat.phone", nil), nil, 1)
	b.category(c, "PHONE-5G", b.t("seed.cat.phone5g", nil), phone, 1)
	b.category(c, "PHONE-4G", b.t("seed.cat.phone4g", nil), phone, 2)
	b.category(c, "TABLET", b.t("seed.cat.tablet", nil), nil, 2)
	b.category(c, "WEARABLE", b.t("seed.cat.wearable", nil), nil, 3)
	acc := b.category(c, "ACCESSORY", b.t("seed.cat.accessory", nil), nil, 4)
	for i, code := range []string{"CHARGER", "EARPHONE", "CASE", "CABLE"} {
		b.category(c, code, b.t("seed.cat."+code, nil), acc, i+1)
	}
	colours := []string{b.t("seed.colour.black", nil), b.t("seed.colour.white", nil), b.t("seed.colour.blue", nil), b.t("seed.colour.green", nil)}
	lines := []productLine{
		{"PHONE-5G", "PH", "星河", "台", []string{"星河 X1", "星河 X1 Pro", "星河 X2", "星河 X2 Pro", "星河 Fold", "云帆 5", "云帆 5 Pro"},
			[][]string{colours[:3], {"128GB", "256GB"}}, []string{"colour", "storage"}, 249900, 50000, 1, 1, true},
		{"PHONE-4G", "PL", "云帆", "台", []string{"云帆 A1", "云帆 A2", "云帆 A3"},
			[][]string{colours[:3], {"64GB", "128GB"}}, []string{"colour", "storage"}, 99900, 20000, 1, 1, true},
		{"TABLET", "TB", "星河", "台", []string{"星河 Pad", "星河 Pad Pro", "云帆 Tab", "云帆 Tab Mini"},
			[][]string{colours[:2], {"128GB", "256GB"}}, []string{"colour", "storage"}, 229900, 40000, 1, 1, true},
		{"WEARABLE", "WR", "星河", "个", []string{"星河 Watch 3", "星河 Watch 3 Pro", "星河 Band 8", "云帆 Watch", "云帆 Band", "星河 Buds Fit"},
			[][]string{colours[:3]}, []string{"colour"}, 49900, 0, 1, 1, true},
		{"CHARGER", "CH", "云帆", "个", []string{"20W 快充头", "33W 快充头", "65W 氮化镓", "无线充电板", "车载快充", "磁吸充电宝", "10000mAh 充电宝", "20000mAh 充电宝", "多口充电器", "桌面充电站"},
			[][]string{colours[:2]}, []string{"colour"}, 6900, 0, 10, 20, false},
		{"EARPHONE", "EP", "星河", "个", []string{"星河 Buds 2", "星河 Buds 2 Pro", "星河 Buds Air", "云帆 Pods", "云帆 Pods Pro", "运动耳机", "头戴耳机", "有线耳机", "降噪耳机", "儿童耳机"},
			[][]string{colours[:3]}, []string{"colour"}, 19900, 0, 5, 5, false},
		{"CASE", "CS", "云帆", "个", []string{"X1 保护壳", "X1 Pro 保护壳", "X2 保护壳", "X2 Pro 保护壳", "Fold 保护壳", "5 保护壳", "5 Pro 保护壳", "A1 保护壳", "A2 保护壳", "A3 保护壳", "Pad 保护套", "Pad Pro 保护套"},
			[][]string{colours}, []string{"colour"}, 4900, 0, 10, 10, false},
		{"CABLE", "CB", "云帆", "条", []string{"USB-C 1m", "USB-C 2m", "USB-C 编织 1m", "USB-C 编织 2m", "Lightning 1m", "USB-A 转 C", "C 转 C 100W", "三合一数据线"},
			[][]string{colours[1:2]}, []string{"colour"}, 2900, 0, 20, 20, false},
	}
	for _, l := range lines {
		cat := c.byCode[l.category]
		for i, name := range l.names {
			pr := &catalog.Product{ID: uuid.Must(uuid.NewV7()), Code: fmt.Sprintf("P-%s%02d", l.prefix, i+1), Name: name, Brand: l.brand,
				CategoryID: cat.ID, Unit: l.unit, Serialised: l.serialised, CreatedAt: b.now, UpdatedAt: b.now}
			c.products = append(c.products, pr)
			b.variants(c, pr, l, i, nil, 0)
		}
	}
	// Two SKUs are off shelf; tablets are not sold to operator-channel distributors.
	c.skus[3].OnShelf, c.skus[40].OnShelf = false, false
	for _, root := range []string{"PHONE", "TABLET", "WEARABLE", "ACCESSORY"} {
		c.rules = append(c.rules, &catalog.Rule{ID: uuid.Must(uuid.NewV7()), Effect: catalog.Include, CategoryID: &c.byCode[root].ID,
			TargetKind: catalog.TargetAll, CreatedAt: b.now})
	}
	c.rules = append(c.rules, &catalog.Rule{ID: uuid.Must(uuid.NewV7()), Effect: catalog.Exclude, CategoryID: &c.byCode["TABLET"].ID,
		TargetKind: catalog.TargetChannelType, TargetValue: "OPERATOR", CreatedAt: b.now})
	return c
}

// variants adds one SKU per combination of the line's attribute values.
func (b *builder) variants(c *catalogue, pr *catalog.Product, l productLine, model int, picked []string, depth int) {
	if depth == len(l.variants) {
		attrs := map[string]string{}
		code := pr.Code[2:]
		name := pr.Name
		for i, v := range picked {
			attrs[l.variantKeys[i]] = v
			name += " " + v
		}
		for i := range picked {
			code += fmt.Sprintf("-%d", indexOf(l.variants[i], picked[i])+1)
		}
		last := indexOf(l.variants[len(l.variants)-1], picked[len(picked)-1])
		c.skus = append(c.skus, &catalog.SKU{ID: uuid.Must(uuid.NewV7()), ProductID: pr.ID, CategoryID: pr.CategoryID,
			Code: code, Name: name, Attributes: attrs, PackSize: l.pack, MinOrderQty: l.min, OnShelf: true, Serialised: l.serialised,
			Images: []string{"catalog/" + code + ".jpg"}, BasePrice: l.base + int64(model)*10000 + int64(last)*l.step,
			CreatedAt: b.now, UpdatedAt: b.now})
		return
	}
	for _, v := range l.variants[depth] {
		b.variants(c, pr, l, model, append(picked, v), depth+1)
	}
}

func indexOf(vs []string, v string) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}

func insertCatalogue(ctx context.Context, tx bun.Tx, c *catalogue) error {
	for _, rows := range []any{&c.categories, &c.products, &c.skus, &c.rules} {
		if _, err := tx.NewInsert().Model(rows).Exec(ctx); err != nil {
			return fmt.Errorf("seed: catalogue: %w", err)
		}
	}
	return nil
}
