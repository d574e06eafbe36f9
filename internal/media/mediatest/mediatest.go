// Package mediatest gives tests a media store and a phone's upload: the local
// store always, and S3 when CHANNELHUB_TEST_S3_ENDPOINT names a MinIO server.
package mediatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"testing"
	"time"

	"channelhub/internal/media"
)

// Variables that select a MinIO/S3 server for tests.
const (
	EndpointEnv  = "CHANNELHUB_TEST_S3_ENDPOINT"
	AccessKeyEnv = "CHANNELHUB_TEST_S3_ACCESS_KEY"
	SecretKeyEnv = "CHANNELHUB_TEST_S3_SECRET_KEY"
	requireEnv   = "CHANNELHUB_TEST_REQUIRE_SERVICES"
)

// S3Options returns the test server's options with a fresh bucket, or skips
// (fails under CHANNELHUB_TEST_REQUIRE_SERVICES=1) when none is configured.
func S3Options(t testing.TB) media.S3Options {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not set and %s=1", EndpointEnv, requireEnv)
		}
		t.Skipf("%s is not set", EndpointEnv)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return media.S3Options{Endpoint: ep, Region: "us-east-1", Bucket: "test-" + hex.EncodeToString(b),
		AccessKey: os.Getenv(AccessKeyEnv), SecretKey: os.Getenv(SecretKeyEnv)}
}

// PNG returns a small valid PNG image; seed makes each one's bytes differ.
func PNG(seed byte) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = seed + byte(i)
	}
	img.Set(0, 0, color.RGBA{R: seed, A: 255})
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// Post uploads body the way a phone does: the upload's fields, overridden by
// override, then the file; it returns the HTTP status and body.
func Post(t testing.TB, u media.Upload, body []byte, override map[string]string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := map[string]string{}
	for k, v := range u.Fields {
		fields[k] = v
	}
	for k, v := range override {
		fields[k] = v
	}
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="photo"`)
	h.Set("Content-Type", fields["Content-Type"])
	fw, _ := mw.CreatePart(h)
	_, _ = fw.Write(body)
	_ = mw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.URL, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// Get fetches url and returns the status and body.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
