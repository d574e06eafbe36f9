// Package media stores the photos phones upload: straight from the phone to
// the store through a presigned upload, then checked by the API before a
// document refers to them. Two stores keep one contract: S3/MinIO, and a local
// directory served by the API itself with HMAC-signed, expiring URLs.
package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	ETag        string
	ContentType string // sniffed from the bytes
	SHA256      string // hex
}

// Store is where media objects live. Keys are chosen by the API, never by clients.
type Store interface {
	// PresignUpload lets one object of contentType, 1..maxBytes long, be
	// uploaded under key until expires.
	PresignUpload(ctx context.Context, key, contentType string, maxBytes int64, expires time.Time) (Upload, error)
	// Verify reads the object under key and checks that it exists, is at
	// most maxBytes and is an image of an allowed type.
	Verify(ctx context.Context, key string, maxBytes int64) (Object, error)
	// DownloadURL is a URL that serves the object until expires.
	DownloadURL(ctx context.Context, key string, expires time.Time) (string, error)
}

// Handler is implemented by stores the API serves itself (the local one).
type Handler interface {
	Routes(mux *http.ServeMux)
}

// check reads r (the object of size bytes, at most maxBytes) and returns its
// sniffed type and SHA-256.
func check(r io.Reader, size, maxBytes int64) (contentType, sum string, err error) {
	if size > maxBytes {
		return "", "", ErrTooLarge
	}
	h := sha256.New()
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", "", fmt.Errorf("media: read: %w", err)
	}
	head = head[:n]
	ct := http.DetectContentType(head)
	if !slices.Contains(ImageTypes, ct) {
		return "", "", ErrNotImage
	}
	h.Write(head)
	m, err := io.Copy(h, io.LimitReader(r, maxBytes-int64(n)+1))
	if err != nil {
		return "", "", fmt.Errorf("media: read: %w", err)
	}
	if int64(n)+m > maxBytes {
		return "", "", ErrTooLarge
	}
	return ct, hex.EncodeToString(h.Sum(nil)), nil
}
