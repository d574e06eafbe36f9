package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
)

// KeySet holds the current Ed25519 signing key and the public keys accepted
// for verification (current plus retired ones), indexed by RFC 7638 kid.
// It is immutable after construction and safe for concurrent use.
type KeySet struct {
	signing    ed25519.PrivateKey
	signingKID string
	verify     map[string]ed25519.PublicKey
	jwks       []byte
}

// NewKeySet builds a KeySet from in-memory keys. Verify keys equal to the
// signing key (or to each other) are deduplicated.
func NewKeySet(signing ed25519.PrivateKey, verify ...ed25519.PublicKey) *KeySet {
	if len(signing) != ed25519.PrivateKeySize {
		panic("auth: NewKeySet: invalid Ed25519 private key")
	}
	pub := signing.Public().(ed25519.PublicKey)
	k := &KeySet{
		signing:    signing,
		signingKID: keyThumbprint(pub),
		verify:     map[string]ed25519.PublicKey{},
	}
	k.verify[k.signingKID] = pub
	order := []ed25519.PublicKey{pub}
	for _, v := range verify {
		if len(v) != ed25519.PublicKeySize {
			continue
		}
		kid := keyThumbprint(v)
		if _, dup := k.verify[kid]; dup {
			continue
		}
		k.verify[kid] = v
		order = append(order, v)
	}
	k.jwks = keyBuildJWKS(order)
	return k
}

// LoadKeySet reads (or on first start generates) the signing key and loads
// retired keys that are still accepted for verification.
func LoadKeySet(signingKeyFile string, verifyKeyFiles []string) (*KeySet, error) {
	signing, err := keyLoadOrCreateSigning(signingKeyFile)
	if err != nil {
		return nil, err
	}
	var verify []ed25519.PublicKey
	for _, f := range verifyKeyFiles {
		if f == "" {
			continue // tolerate empty entries from comma-split config
		}
		pub, err := keyReadVerify(f)
		if err != nil {
			return nil, err
		}
		verify = append(verify, pub)
	}
	return NewKeySet(signing, verify...), nil
}

// SigningKID returns the kid of the current signing key.
func (k *KeySet) SigningKID() string { return k.signingKID }

// JWKS returns the public keys as a JWK Set, current key first.
func (k *KeySet) JWKS() []byte {
	out := make([]byte, len(k.jwks))
	copy(out, k.jwks)
	return out
}

// ServeHTTP serves the JWK Set (e.g. at /.well-known/jwks.json).
func (k *KeySet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(k.jwks)
}

// keyLookup returns the verification key for kid.
func (k *KeySet) keyLookup(kid string) (ed25519.PublicKey, bool) {
	pub, ok := k.verify[kid]
	return pub, ok
}

// keyThumbprint is the RFC 7638 JWK thumbprint; members are in the
// lexicographic order the RFC requires and need no JSON escaping.
func keyThumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type keyJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func keyBuildJWKS(pubs []ed25519.PublicKey) []byte {
	set := struct {
		Keys []keyJWK `json:"keys"`
	}{Keys: make([]keyJWK, 0, len(pubs))}
	for _, p := range pubs {
		set.Keys = append(set.Keys, keyJWK{
			Kty: "OKP",
			Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(p),
			Kid: keyThumbprint(p),
			Use: "sig",
			Alg: "EdDSA",
		})
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic("auth: marshal JWKS: " + err.Error()) // only strings; cannot fail
	}
	return b
}

func keyLoadOrCreateSigning(path string) (ed25519.PrivateKey, error) {
	priv, err := keyReadPrivate(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return priv, err
	}
	_, priv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key for %s: %w", path, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key for %s: %w", path, err)
	}
	created, err := keyWriteNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return nil, err
	}
	if !created {
		// Another process won the race to create it; use theirs so all
		// instances sign with the same key.
		return keyReadPrivate(path)
	}
	return priv, nil
}

// keyWriteNew writes data to path with mode 0600 via a temp file in the same
// directory. It links rather than renames so a concurrently created key is
// never clobbered; created is false if path already existed.
func keyWriteNew(path string, data []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("auth: create key directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".signing-key-*.tmp")
	if err != nil {
		return false, fmt.Errorf("auth: write signing key %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("auth: write signing key %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("auth: write signing key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("auth: write signing key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("auth: write signing key %s: %w", path, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		// Filesystem without hard links: fall back to a plain rename.
		if err := os.Rename(tmpName, path); err != nil {
			return false, fmt.Errorf("auth: write signing key %s: %w", path, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // persist the directory entry; best effort
		d.Close()
	}
	return true, nil
}

func keyReadPEM(path, what string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read %s: %w", what, err) // *PathError names the file
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("auth: %s %s: no PEM block found", what, path)
	}
	return block, nil
}

func keyReadPrivate(path string) (ed25519.PrivateKey, error) {
	block, err := keyReadPEM(path, "signing key")
	if err != nil {
		return nil, err
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("auth: signing key %s: PEM type %q, want PRIVATE KEY (PKCS#8)", path, block.Type)
	}
	return keyParsePKCS8(path, "signing key", block.Bytes)
}

func keyParsePKCS8(path, what string, der []byte) (ed25519.PrivateKey, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: %s %s: invalid PKCS#8 private key", what, path)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: %s %s: not an Ed25519 key (%T)", what, path, key)
	}
	return priv, nil
}

func keyReadVerify(path string) (ed25519.PublicKey, error) {
	block, err := keyReadPEM(path, "verify key")
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: verify key %s: invalid PKIX public key", path)
		}
		pub, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("auth: verify key %s: not an Ed25519 key (%T)", path, key)
		}
		return pub, nil
	case "PRIVATE KEY":
		priv, err := keyParsePKCS8(path, "verify key", block.Bytes)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	default:
		return nil, fmt.Errorf("auth: verify key %s: PEM type %q, want PUBLIC KEY or PRIVATE KEY", path, block.Type)
	}
}
