package visit

import (
	"context"
	"fmt"
	"time"
)

// UploadUnusedFor is how long a presigned upload may stay unused by any
// check-in or audit before SweepUploads deletes it.
const UploadUnusedFor = 7 * 24 * time.Hour

// SweepUploads deletes up to limit uploads handed out more than
// UploadUnusedFor ago that nothing used: their rows first, so no check-in
// can take one afterwards (its insert would miss the row), then their
// objects. An object the store fails to delete is reported in the error and
// left behind; its row is gone either way. It returns the rows deleted.
func (s *Service) SweepUploads(ctx context.Context, limit int) (int, error) {
	cutoff := s.Now().Add(-UploadUnusedFor)
	var keys []string
	if err := s.db.NewRaw(`DELETE FROM media_uploads WHERE key IN (SELECT key FROM media_uploads
		WHERE used_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?) AND used_at IS NULL RETURNING key`,
		cutoff, limit).Scan(ctx, &keys); err != nil {
		return 0, fmt.Errorf("visit: sweep uploads: %w", err)
	}
	var failed int
	var first error
	for _, k := range keys {
		if err := s.media.Delete(ctx, k); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return len(keys), fmt.Errorf("visit: sweep uploads: %d of %d objects left behind: %w", failed, len(keys), first)
	}
	return len(keys), nil
}
