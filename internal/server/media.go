package server

import (
	"context"
	"path/filepath"

	"channelhub/internal/config"
	"channelhub/internal/media"
)

// openMedia picks the media store: S3 when an endpoint is configured, else a
// directory under the data directory that this API serves itself (its URLs
// are paths relative to the API's origin).
func openMedia(ctx context.Context, cfg config.Config) (media.Store, error) {
	if c := cfg.S3; c.Endpoint != "" {
		return media.NewS3(ctx, media.S3Options{Endpoint: c.Endpoint, PublicEndpoint: c.PublicEndpoint, Region: c.Region,
			Bucket: c.Bucket, AccessKey: c.AccessKey, SecretKey: c.SecretKey, UseSSL: c.UseSSL})
	}
	return media.NewLocal(filepath.Join(cfg.DataDir, "media"), "")
}
