package media

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// Local keeps objects in a directory and serves them itself. Upload and
// download URLs carry an expiry and an HMAC-SHA256 over what they allow, with
// a key kept beside the objects, so instances sharing the directory agree.
type Local struct {
	dir  string
	key  []byte
	base string // prefix of the URLs handed out: "" for paths relative to the API
	Now  func() time.Time
}

// keyRE is the shape of keys the API chooses; nothing else reaches the disk.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*(\.[a-z0-9]{1,5})?$`)

// NewLocal opens (creating) the media directory dir. base is the API's
// public origin, or "" to hand out paths relative to it.
func NewLocal(dir, base string) (*Local, error) {
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o750); err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	keyFile := filepath.Join(dir, "signing-key")
	key, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		// O_EXCL: when two instances start together, the second reads the first's key.
		f, cerr := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr == nil {
			_, cerr = f.Write(key)
			if e := f.Close(); cerr == nil {
				cerr = e
			}
		}
		if errors.Is(cerr, os.ErrExist) {
			key, err = os.ReadFile(keyFile)
		} else {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("media: signing key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("media: signing key %s is too short", keyFile)
	}
	return &Local{dir: dir, key: key, base: base, Now: time.Now}, nil
}

func (l *Local) sign(parts ...string) string {
	m := hmac.New(sha256.New, l.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (l *Local) path(key string) string {
	return filepath.Join(l.dir, "objects", filepath.FromSlash(key))
}

// etagPath is where an object's ETag is kept, beside it: a name starting
// with a dot, which no key's segment can have.
func etagPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".etag")
}

// etagOf is the ETag of a SHA-256 sum: its first 32 hex digits, quoted.
func etagOf(sum []byte) string { return `"` + hex.EncodeToString(sum)[:32] + `"` }

// PresignUpload implements Store.
func (l *Local) PresignUpload(_ context.Context, key, contentType string, maxBytes int64, expires time.Time) (Upload, error) {
	if !keyRE.MatchString(key) {
		return Upload{}, fmt.Errorf("media: invalid key %q", key)
	}
	exp := strconv.FormatInt(expires.Unix(), 10)
	max := strconv.FormatInt(maxBytes, 10)
	q := url.Values{"key": {key}, "ct": {contentType}, "max": {max}, "exp": {exp},
		"sig": {l.sign("upload", key, contentType, max, exp)}}
	return Upload{URL: l.base + "/media/upload?" + q.Encode(), Fields: map[string]string{"key": key, "Content-Type": contentType},
		Key: key, ContentType: contentType, MaxBytes: maxBytes, ExpiresAt: expires}, nil
}

// DownloadURL implements Store.
func (l *Local) DownloadURL(_ context.Context, key string, expires time.Time) (string, error) {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"key": {key}, "exp": {exp}, "sig": {l.sign("get", key, exp)}}
	return l.base + "/media/object?" + q.Encode(), nil
}

// Verify implements Store: the first SniffBytes are read, the size comes
// from the file and the ETag from the upload, which hashed the file as it
// wrote it. An object placed without an upload is hashed here instead.
func (l *Local) Verify(_ context.Context, key string, maxBytes int64) (Object, error) {
	if !keyRE.MatchString(key) {
		return Object{}, ErrNotFound
	}
	path := l.path(key)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Object{}, fmt.Errorf("media: %w", err)
	}
	head := make([]byte, SniffBytes)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Object{}, fmt.Errorf("media: read: %w", err)
	}
	ct, err := sniff(head[:n], st.Size(), maxBytes)
	if err != nil {
		return Object{}, err
	}
	etag, err := os.ReadFile(etagPath(path))
	if errors.Is(err, os.ErrNotExist) {
		h := sha256.New()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Object{}, fmt.Errorf("media: %w", err)
		}
		if _, err := io.Copy(h, f); err != nil {
			return Object{}, fmt.Errorf("media: read: %w", err)
		}
		etag, err = []byte(etagOf(h.Sum(nil))), nil
	}
	if err != nil {
		return Object{}, fmt.Errorf("media: etag: %w", err)
	}
	return Object{Key: key, Size: st.Size(), ETag: string(etag), ContentType: ct}, nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, key string) error {
	if !keyRE.MatchString(key) {
		return nil
	}
	path := l.path(key)
	for _, p := range []string{path, etagPath(path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("media: delete: %w", err)
		}
	}
	return nil
}

// Routes mounts the upload and download endpoints.
func (l *Local) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /media/upload", l.upload)
	mux.HandleFunc("GET /media/object", l.download)
}

// valid checks a URL's expiry and signature over parts.
func (l *Local) valid(q url.Values, parts ...string) bool {
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil || l.Now().Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(q.Get("sig")), []byte(l.sign(parts...)))
}

func (l *Local) upload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key, ct := q.Get("key"), q.Get("ct")
	max, err := strconv.ParseInt(q.Get("max"), 10, 64)
	if err != nil || !keyRE.MatchString(key) || !l.valid(q, "upload", key, ct, q.Get("max"), q.Get("exp")) {
		http.Error(w, "AccessDenied: invalid or expired upload URL", http.StatusForbidden)
		return
	}
	// The form's other fields are small; the limit only stops an endless body.
	r.Body = http.MaxBytesReader(w, r.Body, max+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "MalformedPOSTRequest: multipart/form-data expected", http.StatusBadRequest)
		return
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			http.Error(w, "MalformedPOSTRequest: no file part", http.StatusBadRequest)
			return
		}
		if part.FormName() != "file" {
			v, _ := io.ReadAll(io.LimitReader(part, 4096))
			fields[part.FormName()] = string(v)
			continue
		}
		if fields["key"] != key || fields["Content-Type"] != ct {
			http.Error(w, "AccessDenied: form fields do not match the policy", http.StatusForbidden)
			return
		}
		l.store(w, key, max, part)
		return
	}
}

// store writes the file part under key, refusing it when over max.
func (l *Local) store(w http.ResponseWriter, key string, max int64, part *multipart.Part) {
	dst := l.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".upload-*")
	if err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(part, max+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		http.Error(w, "IncompleteBody", http.StatusBadRequest)
	case n > max:
		http.Error(w, "EntityTooLarge: your proposed upload exceeds the maximum allowed size", http.StatusBadRequest)
	case n == 0:
		http.Error(w, "EntityTooSmall: your proposed upload is empty", http.StatusBadRequest)
	default:
		// The ETag first: an object is never seen with another object's ETag.
		if err := os.WriteFile(etagPath(dst), []byte(etagOf(h.Sum(nil))), 0o600); err != nil {
			http.Error(w, "InternalError", http.StatusInternalServerError)
			return
		}
		if err := os.Rename(tmp.Name(), dst); err != nil {
			http.Error(w, "InternalError", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (l *Local) download(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("key")
	if !keyRE.MatchString(key) || !l.valid(q, "get", key, q.Get("exp")) {
		http.Error(w, "AccessDenied: invalid or expired URL", http.StatusForbidden)
		return
	}
	f, err := os.Open(l.path(key))
	if err != nil {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "InternalError", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
