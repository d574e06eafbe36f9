package media_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/media"
	"channelhub/internal/media/mediatest"
)

// TestContract runs one suite against both stores: the local directory
// always, S3 against the MinIO server the test variables name.
func TestContract(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		l, err := media.NewLocal(t.TempDir(), srv.URL)
		require.NoError(t, err)
		l.Routes(mux)
		contract(t, l)
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		s, err := media.NewS3(context.Background(), mediatest.S3Options(t))
		require.NoError(t, err)
		contract(t, s)
	})
}

func contract(t *testing.T, s media.Store) {
	ctx := context.Background()
	soon := time.Now().Add(5 * time.Minute)
	presign := func(key string, max int64, exp time.Time) media.Upload {
		u, err := s.PresignUpload(ctx, key, "image/png", max, exp)
		require.NoError(t, err)
		return u
	}
	t.Run("round trip", func(t *testing.T) {
		t.Parallel()
		img := mediatest.PNG(1)
		u := presign("t/round.png", 1<<20, soon)
		code, body := mediatest.Post(t, u, img, nil)
		require.Less(t, code, 300, body)
		o, err := s.Verify(ctx, "t/round.png", 1<<20)
		require.NoError(t, err)
		require.Equal(t, int64(len(img)), o.Size)
		require.Equal(t, "image/png", o.ContentType)
		require.NotEmpty(t, o.ETag)
		url, err := s.DownloadURL(ctx, "t/round.png", soon)
		require.NoError(t, err)
		code, got := mediatest.Get(t, url)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, img, got)
		// A tampered signature (the last character of both stores' URLs) is refused.
		code, _ = mediatest.Get(t, flipLast(url))
		require.Equal(t, http.StatusForbidden, code)
		// So is a larger limit than the object.
		_, err = s.Verify(ctx, "t/round.png", int64(len(img)-1))
		require.ErrorIs(t, err, media.ErrTooLarge)
	})
	t.Run("etag", func(t *testing.T) {
		t.Parallel()
		// A photo larger than what Verify reads: its size and ETag come from the store, not from the bytes read.
		big := append(mediatest.PNG(5), bytes.Repeat([]byte{7}, 100_000)...)
		other := append(mediatest.PNG(5), bytes.Repeat([]byte{8}, 100_000)...)
		etags := map[string]string{}
		for key, body := range map[string][]byte{"t/etag-a.png": big, "t/etag-b.png": big, "t/etag-c.png": other} {
			code, resp := mediatest.Post(t, presign(key, 1<<20, soon), body, nil)
			require.Less(t, code, 300, resp)
			o, err := s.Verify(ctx, key, 1<<20)
			require.NoError(t, err)
			require.Equal(t, int64(len(body)), o.Size)
			require.Equal(t, "image/png", o.ContentType)
			require.Regexp(t, `^"[0-9a-f]{32}"$`, o.ETag)
			etags[key] = o.ETag
		}
		require.Equal(t, etags["t/etag-a.png"], etags["t/etag-b.png"], "the same bytes under two keys: one ETag")
		require.NotEqual(t, etags["t/etag-a.png"], etags["t/etag-c.png"], "other bytes (past the first 512): another ETag")
		_, err := s.Verify(ctx, "t/etag-a.png", int64(len(big)-1))
		require.ErrorIs(t, err, media.ErrTooLarge, "the size is the object's, not the part read")
	})
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		code, resp := mediatest.Post(t, presign("t/delete.png", 1<<20, soon), mediatest.PNG(6), nil)
		require.Less(t, code, 300, resp)
		_, err := s.Verify(ctx, "t/delete.png", 1<<20)
		require.NoError(t, err)
		url, err := s.DownloadURL(ctx, "t/delete.png", soon)
		require.NoError(t, err)
		require.NoError(t, s.Delete(ctx, "t/delete.png"))
		_, err = s.Verify(ctx, "t/delete.png", 1<<20)
		require.ErrorIs(t, err, media.ErrNotFound)
		code, _ = mediatest.Get(t, url)
		require.Equal(t, http.StatusNotFound, code)
		require.NoError(t, s.Delete(ctx, "t/delete.png"), "deleting what is gone is no error")
		require.NoError(t, s.Delete(ctx, "t/never-there.png"))
	})
	t.Run("never uploaded", func(t *testing.T) {
		t.Parallel()
		_, err := s.Verify(ctx, "t/never.png", 1<<20)
		require.ErrorIs(t, err, media.ErrNotFound)
	})
	t.Run("too large", func(t *testing.T) {
		t.Parallel()
		u := presign("t/large.png", 100, soon)
		code, body := mediatest.Post(t, u, make([]byte, 500), nil)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, "EntityTooLarge")
		_, err := s.Verify(ctx, "t/large.png", 1<<20)
		require.ErrorIs(t, err, media.ErrNotFound)
	})
	t.Run("not an image", func(t *testing.T) {
		t.Parallel()
		u := presign("t/text.png", 1<<20, soon)
		code, body := mediatest.Post(t, u, []byte("hello, this is not a picture at all"), nil)
		require.Less(t, code, 300, body)
		_, err := s.Verify(ctx, "t/text.png", 1<<20)
		require.ErrorIs(t, err, media.ErrNotImage)
	})
	t.Run("expired upload", func(t *testing.T) {
		t.Parallel()
		u := presign("t/expired.png", 1<<20, time.Now().Add(-time.Minute))
		code, body := mediatest.Post(t, u, mediatest.PNG(2), nil)
		require.Equal(t, http.StatusForbidden, code, body)
	})
	t.Run("tampered upload", func(t *testing.T) {
		t.Parallel()
		u := presign("t/tamper.png", 1<<20, soon)
		for _, o := range []map[string]string{{"key": "t/other.png"}, {"Content-Type": "text/html"}} {
			code, body := mediatest.Post(t, u, mediatest.PNG(3), o)
			require.Equal(t, http.StatusForbidden, code, "%v: %s", o, body)
		}
		_, err := s.Verify(ctx, "t/other.png", 1<<20)
		require.ErrorIs(t, err, media.ErrNotFound)
	})
	t.Run("expired download", func(t *testing.T) {
		t.Parallel()
		u := presign("t/exp-get.png", 1<<20, soon)
		code, body := mediatest.Post(t, u, mediatest.PNG(4), nil)
		require.Less(t, code, 300, body)
		url, err := s.DownloadURL(ctx, "t/exp-get.png", time.Now().Add(time.Second))
		require.NoError(t, err)
		time.Sleep(2100 * time.Millisecond)
		code, _ = mediatest.Get(t, url)
		require.Equal(t, http.StatusForbidden, code)
	})
}

// flipLast changes the last character, which is in the signature of both stores' URLs.
func flipLast(s string) string {
	if s[len(s)-1] == 'A' {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}
