// Package media stores the photos phones upload: straight from the phone to
// the store through a presigned upload, then checked by the API before a
// document refers to them. Two stores keep one contract: S3/MinIO, and a local
// directory served by the API itself with HMAC-signed, expiring URLs.
package media

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"
)

// Errors of an object a client claims to have uploaded.
var (
	ErrNotFound = errors.New("media: object not found")
	ErrTooLarge = errors.New("media: object too large")
	ErrNotImage = errors.New("media: object is not an allowed image")
)

// ImageTypes are the content types a photo may have, as sniffed from its bytes.
var ImageTypes = []string{"image/jpeg", "image/png", "image/webp"}

// Upload tells a phone how to send one object: a multipart/form-data POST to
// URL carrying Fields (in any order) and then the file in a part named "file".
type Upload struct {
	URL         string
	Fields      map[string]string
	Key         string
	ContentType string // the file part's and the Content-Type field's value
	MaxBytes    int64
	ExpiresAt   time.Time
}

// Object is what the store holds under a key, after verification.
type Object struct {
	Key         string
	Size        int64
	ETag        string // quoted; equal bytes uploaded whole have equal ETags (S3: their MD5; local: SHA-256 prefix)
	ContentType string // sniffed from the first SniffBytes
}

// SniffBytes is how much of an object Verify reads: what content sniffing looks at.
const SniffBytes = 512

// Store is where media objects live. Keys are chosen by the API, never by clients.
type Store interface {
	// PresignUpload lets one object of contentType, 1..maxBytes long, be
	// uploaded under key until expires.
	PresignUpload(ctx context.Context, key, contentType string, maxBytes int64, expires time.Time) (Upload, error)
	// Verify checks that the object under key exists, is at most maxBytes
	// and is an image of an allowed type, reading only its first SniffBytes
	// bytes; size and ETag come from the store's metadata.
	Verify(ctx context.Context, key string, maxBytes int64) (Object, error)
	// DownloadURL is a URL that serves the object until expires.
	DownloadURL(ctx context.Context, key string, expires time.Time) (string, error)
	// Delete removes the object under key; a key with no object is no error.
	Delete(ctx context.Context, key string) error
}

// Handler is implemented by stores the API serves itself (the local one).
type Handler interface {
	Routes(mux *http.ServeMux)
}

// sniff checks an object of size bytes, at most maxBytes, whose first bytes
// are head, and returns its sniffed type.
func sniff(head []byte, size, maxBytes int64) (string, error) {
	if size > maxBytes {
		return "", ErrTooLarge
	}
	ct := http.DetectContentType(head)
	if size == 0 || !slices.Contains(ImageTypes, ct) {
		return "", ErrNotImage
	}
	return ct, nil
}
