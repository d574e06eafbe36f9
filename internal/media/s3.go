package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options name an S3-compatible server and bucket.
type S3Options struct {
	Endpoint       string // host[:port] the API reaches
	PublicEndpoint string // host[:port] phones reach; "" = Endpoint
	Region         string
	Bucket         string
	AccessKey      string
	SecretKey      string
	UseSSL         bool
}

// S3 keeps objects in an S3 bucket (MinIO in development and CI).
type S3 struct {
	c      *minio.Client // the API's own calls
	core   minio.Core    // the same client, for a GET that answers its headers
	pub    *minio.Client // signs URLs for the host phones reach; presigning makes no call
	bucket string
}

// NewS3 connects and creates the bucket when it does not exist.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	mk := func(endpoint string) (*minio.Client, error) {
		return minio.New(endpoint, &minio.Options{
			Creds:  credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
			Secure: o.UseSSL, Region: o.Region, BucketLookup: minio.BucketLookupPath,
		})
	}
	c, err := mk(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("media: s3: %w", err)
	}
	pub := c
	if o.PublicEndpoint != "" && o.PublicEndpoint != o.Endpoint {
		if pub, err = mk(o.PublicEndpoint); err != nil {
			return nil, fmt.Errorf("media: s3: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := c.BucketExists(cctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("media: s3: bucket %s: %w", o.Bucket, err)
	}
	if !ok {
		err := c.MakeBucket(cctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return nil, fmt.Errorf("media: s3: create bucket %s: %w", o.Bucket, err)
		}
	}
	return &S3{c: c, core: minio.Core{Client: c}, pub: pub, bucket: o.Bucket}, nil
}

// PresignUpload implements Store with a POST policy: the server itself
// refuses another key, another content type or a size outside 1..maxBytes.
func (s *S3) PresignUpload(ctx context.Context, key, contentType string, maxBytes int64, expires time.Time) (Upload, error) {
	p := minio.NewPostPolicy()
	for _, err := range []error{p.SetBucket(s.bucket), p.SetKey(key), p.SetContentType(contentType),
		p.SetContentLengthRange(1, maxBytes), p.SetExpires(expires.UTC())} {
		if err != nil {
			return Upload{}, fmt.Errorf("media: policy: %w", err)
		}
	}
	u, fields, err := s.pub.PresignedPostPolicy(ctx, p)
	if err != nil {
		return Upload{}, fmt.Errorf("media: presign: %w", err)
	}
	return Upload{URL: u.String(), Fields: fields, Key: key, ContentType: contentType, MaxBytes: maxBytes, ExpiresAt: expires}, nil
}

// Verify implements Store with one ranged GET of the first SniffBytes: the
// answer's Content-Range carries the object's size and its ETag header the
// ETag, so the object is neither read whole nor stat'ed separately.
func (s *S3) Verify(ctx context.Context, key string, maxBytes int64) (Object, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, SniffBytes-1); err != nil {
		return Object{}, fmt.Errorf("media: range: %w", err)
	}
	body, info, h, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchKey":
			return Object{}, ErrNotFound
		case "InvalidRange": // an empty object
			return Object{}, ErrNotImage
		}
		return Object{}, fmt.Errorf("media: get: %w", err)
	}
	defer body.Close()
	size, err := totalSize(h.Get("Content-Range"), info.Size)
	if err != nil {
		return Object{}, err
	}
	head, err := io.ReadAll(io.LimitReader(body, SniffBytes))
	if err != nil {
		return Object{}, fmt.Errorf("media: read: %w", err)
	}
	ct, err := sniff(head, size, maxBytes)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: size, ETag: `"` + strings.Trim(info.ETag, `"`) + `"`, ContentType: ct}, nil
}

// totalSize reads the object's size from a Content-Range ("bytes 0-511/12345");
// without one the answer was the whole object, of length n.
func totalSize(contentRange string, n int64) (int64, error) {
	if contentRange == "" {
		return n, nil
	}
	_, total, ok := strings.Cut(contentRange, "/")
	size, err := strconv.ParseInt(total, 10, 64)
	if !ok || err != nil || size < 0 {
		return 0, errors.New("media: get: malformed Content-Range " + strconv.Quote(contentRange))
	}
	return size, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil &&
		minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return fmt.Errorf("media: delete: %w", err)
	}
	return nil
}

// DownloadURL implements Store.
func (s *S3) DownloadURL(ctx context.Context, key string, expires time.Time) (string, error) {
	ttl := max(time.Until(expires).Round(time.Second), time.Second)
	u, err := s.pub.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("media: presign: %w", err)
	}
	return u.String(), nil
}
