package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keysTestNewKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return priv
}

func keysTestWritePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// RFC 8037 appendix A.1 key and A.3 thumbprint.
func TestKeyThumbprintRFC8037(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	require.NoError(t, err)
	ks := NewKeySet(ed25519.NewKeyFromSeed(seed))
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", ks.SigningKID())

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(ks.JWKS(), &set))
	require.Len(t, set.Keys, 1)
	assert.Equal(t, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", set.Keys[0]["x"])
}

func TestJWKSContainsAllKeys(t *testing.T) {
	cur, old := keysTestNewKey(t), keysTestNewKey(t)
	oldPub := old.Public().(ed25519.PublicKey)
	// Duplicates of the current or a retired key must not appear twice.
	ks := NewKeySet(cur, oldPub, oldPub, cur.Public().(ed25519.PublicKey))

	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(ks.JWKS(), &set))
	require.Len(t, set.Keys, 2)
	want := []ed25519.PublicKey{cur.Public().(ed25519.PublicKey), oldPub}
	for i, k := range set.Keys {
		assert.Equal(t, "OKP", k["kty"])
		assert.Equal(t, "Ed25519", k["crv"])
		assert.Equal(t, "sig", k["use"])
		assert.Equal(t, "EdDSA", k["alg"])
		x, err := base64.RawURLEncoding.DecodeString(k["x"])
		require.NoError(t, err)
		assert.Equal(t, []byte(want[i]), x)
		assert.Equal(t, keyThumbprint(want[i]), k["kid"])
		assert.Len(t, k, 6)
	}
	assert.Equal(t, ks.SigningKID(), set.Keys[0]["kid"])
	assert.NotEqual(t, set.Keys[0]["kid"], set.Keys[1]["kid"])

	// The returned slice is a copy.
	b := ks.JWKS()
	b[0] = 'X'
	assert.Equal(t, byte('{'), ks.JWKS()[0])
}

func TestJWKSServeHTTP(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))

	rec := httptest.NewRecorder()
	ks.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "public, max-age=300", rec.Header().Get("Cache-Control"))
	assert.JSONEq(t, string(ks.JWKS()), rec.Body.String())

	rec = httptest.NewRecorder()
	ks.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestLoadKeySetGeneratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "signing.pem")

	ks1, err := LoadKeySet(path, nil)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temp file left behind")

	before, err := os.ReadFile(path)
	require.NoError(t, err)
	ks2, err := LoadKeySet(path, []string{""})
	require.NoError(t, err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "existing key must not be rewritten")
	assert.Equal(t, ks1.SigningKID(), ks2.SigningKID())

	// The generated file is a PKCS#8 Ed25519 key.
	block, _ := pem.Decode(after)
	require.NotNil(t, block)
	assert.Equal(t, "PRIVATE KEY", block.Type)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.IsType(t, ed25519.PrivateKey{}, key)
}

func TestLoadKeySetVerifyKeyFormats(t *testing.T) {
	dir := t.TempDir()
	cur, oldA, oldB := keysTestNewKey(t), keysTestNewKey(t), keysTestNewKey(t)

	curDER, err := x509.MarshalPKCS8PrivateKey(cur)
	require.NoError(t, err)
	keysTestWritePEM(t, filepath.Join(dir, "cur.pem"), "PRIVATE KEY", curDER)

	pubDER, err := x509.MarshalPKIXPublicKey(oldA.Public())
	require.NoError(t, err)
	keysTestWritePEM(t, filepath.Join(dir, "a.pub.pem"), "PUBLIC KEY", pubDER)

	privDER, err := x509.MarshalPKCS8PrivateKey(oldB)
	require.NoError(t, err)
	keysTestWritePEM(t, filepath.Join(dir, "b.pem"), "PRIVATE KEY", privDER)

	ks, err := LoadKeySet(filepath.Join(dir, "cur.pem"), []string{filepath.Join(dir, "a.pub.pem"), filepath.Join(dir, "b.pem")})
	require.NoError(t, err)
	assert.Equal(t, keyThumbprint(cur.Public().(ed25519.PublicKey)), ks.SigningKID())
	for _, k := range []ed25519.PrivateKey{cur, oldA, oldB} {
		_, ok := ks.keyLookup(keyThumbprint(k.Public().(ed25519.PublicKey)))
		assert.True(t, ok)
	}
}

func TestLoadKeySetErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	_, err := LoadKeySet(good, nil)
	require.NoError(t, err)

	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a pem"), 0o600))

	badDER := filepath.Join(dir, "baddER.pem")
	keysTestWritePEM(t, badDER, "PRIVATE KEY", []byte("SECRETSECRETSECRET"))

	wrongType := filepath.Join(dir, "rsa.pem")
	keysTestWritePEM(t, wrongType, "RSA PRIVATE KEY", []byte{1, 2, 3})

	missing := filepath.Join(dir, "missing.pem")

	cases := []struct {
		name    string
		signing string
		verify  []string
		path    string
	}{
		{"signing garbage", garbage, nil, garbage},
		{"signing bad der", badDER, nil, badDER},
		{"signing wrong type", wrongType, nil, wrongType},
		{"verify missing", good, []string{missing}, missing},
		{"verify garbage", good, []string{garbage}, garbage},
		{"verify bad der", good, []string{badDER}, badDER},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeySet(tc.signing, tc.verify)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.path)
			assert.NotContains(t, err.Error(), "SECRET")
		})
	}
}
