// Package i18n is the one message catalogue for every text a person reads,
// in zh-CN (the default) and en. Clients always get a stable code beside the text.
package i18n

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Each domain may keep its own <name>.<lang>.json beside the shared files.
//
//go:embed *.json
var files embed.FS

var bundle = func() *i18n.Bundle {
	b := i18n.NewBundle(language.Make("zh-CN"))
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	names, _ := fs.Glob(files, "*.json")
	for _, f := range names {
		if _, err := b.LoadMessageFileFS(files, f); err != nil {
			panic(err) // the catalogue is embedded; a broken file is a build defect caught by the tests
		}
	}
	return b
}()

type key struct{}

// WithLanguage stores the client's Accept-Language preference in ctx.
func WithLanguage(ctx context.Context, acceptLanguage string) context.Context {
	return context.WithValue(ctx, key{}, i18n.NewLocalizer(bundle, acceptLanguage))
}

// T returns the text of message id in the language of ctx, falling back to
// zh-CN, then to the id itself, so a missing text never hides the code.
func T(ctx context.Context, id string, data map[string]any) string {
	l, ok := ctx.Value(key{}).(*i18n.Localizer)
	if !ok {
		l = i18n.NewLocalizer(bundle)
	}
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil || s == "" {
		return id
	}
	return s
}

// Has reports whether id is in the catalogue; tests use it to prove every code has a text.
func Has(id string) bool {
	_, err := i18n.NewLocalizer(bundle, "zh-CN").Localize(&i18n.LocalizeConfig{MessageID: id})
	_, err2 := i18n.NewLocalizer(bundle, "en").Localize(&i18n.LocalizeConfig{MessageID: id})
	return err == nil && err2 == nil
}
