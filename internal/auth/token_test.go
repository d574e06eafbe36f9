package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tokenTestNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func tokenTestClaims() AccessClaims {
	return AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "6f1c1a8e-2f4b-4d7a-9c39-0c6c1b1f8a11",
			IssuedAt:  jwt.NewNumericDate(tokenTestNow),
			ExpiresAt: jwt.NewNumericDate(tokenTestNow.Add(5 * time.Minute)),
		},
		PartyID:        "party-1",
		Roles:          []string{"admin", "viewer"},
		App:            "web",
		SessionVersion: 7,
		Family:         "fam-1",
	}
}

func tokenTestB64(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestTokenRoundTrip(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	tok, err := ks.SignAccess(tokenTestClaims())
	require.NoError(t, err)

	hdr, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(raw, &h))
	assert.Equal(t, "EdDSA", h["alg"])
	assert.Equal(t, ks.SigningKID(), h["kid"])

	got, err := ks.ParseAccess(tok, tokenTestNow.Add(time.Minute))
	require.NoError(t, err)
	want := tokenTestClaims()
	assert.Equal(t, want.Subject, got.Subject)
	assert.Equal(t, "channelhub", got.Issuer)
	assert.NotEmpty(t, got.ID)
	assert.Equal(t, want.ExpiresAt.Unix(), got.ExpiresAt.Unix())
	assert.Nil(t, got.NotBefore, "no nbf: clock skew between instances must not refuse fresh tokens")
	assert.Equal(t, want.PartyID, got.PartyID)
	assert.Equal(t, want.Roles, got.Roles)
	assert.Equal(t, want.App, got.App)
	assert.Equal(t, want.SessionVersion, got.SessionVersion)
	assert.Equal(t, want.Family, got.Family)

	// jti is random per token.
	tok2, err := ks.SignAccess(tokenTestClaims())
	require.NoError(t, err)
	got2, err := ks.ParseAccess(tok2, tokenTestNow)
	require.NoError(t, err)
	assert.NotEqual(t, got.ID, got2.ID)
}

func TestTokenSignRejectsIncompleteClaims(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	c := tokenTestClaims()
	c.Subject = ""
	_, err := ks.SignAccess(c)
	assert.Error(t, err)

	c = tokenTestClaims()
	c.ExpiresAt = nil
	_, err = ks.SignAccess(c)
	assert.Error(t, err)

	c = tokenTestClaims()
	c.Issuer = "someone-else"
	_, err = ks.SignAccess(c)
	assert.Error(t, err)
}

func TestTokenExpired(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	tok, err := ks.SignAccess(tokenTestClaims())
	require.NoError(t, err)

	_, err = ks.ParseAccess(tok, tokenTestNow.Add(5*time.Minute+time.Second))
	assert.ErrorIs(t, err, ErrTokenExpired)
	assert.NotErrorIs(t, err, ErrTokenInvalid)

	// A token with nbf in the future is invalid, not expired.
	c := tokenTestClaims()
	c.NotBefore = jwt.NewNumericDate(tokenTestNow.Add(time.Minute))
	tok, err = ks.SignAccess(c)
	require.NoError(t, err)
	_, err = ks.ParseAccess(tok, tokenTestNow)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

func TestTokenForgedWithOtherKeySameKID(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	attacker := keysTestNewKey(t)
	c := tokenTestClaims()
	c.Issuer = "channelhub"
	tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tk.Header["kid"] = ks.SigningKID()
	tok, err := tk.SignedString(attacker)
	require.NoError(t, err)

	_, err = ks.ParseAccess(tok, tokenTestNow)
	assert.ErrorIs(t, err, ErrTokenInvalid)

	// Even when expired, a bad signature must not be reported as expiry.
	_, err = ks.ParseAccess(tok, tokenTestNow.Add(time.Hour))
	assert.ErrorIs(t, err, ErrTokenInvalid)
	assert.NotErrorIs(t, err, ErrTokenExpired)
}

func TestTokenAlgNone(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	c := tokenTestClaims()
	c.Issuer = "channelhub"
	hdr := tokenTestB64(t, map[string]string{"alg": "none", "typ": "JWT", "kid": ks.SigningKID()})
	payload := tokenTestB64(t, c)
	for _, tok := range []string{hdr + "." + payload + ".", hdr + "." + payload} {
		_, err := ks.ParseAccess(tok, tokenTestNow)
		assert.ErrorIs(t, err, ErrTokenInvalid)
	}

	// Valid signature but header swapped to alg none.
	real, err := ks.SignAccess(tokenTestClaims())
	require.NoError(t, err)
	parts := strings.Split(real, ".")
	_, err = ks.ParseAccess(hdr+"."+parts[1]+"."+parts[2], tokenTestNow)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

func TestTokenHS256KeyConfusion(t *testing.T) {
	priv := keysTestNewKey(t)
	ks := NewKeySet(priv)
	c := tokenTestClaims()
	c.Issuer = "channelhub"
	tk := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tk.Header["kid"] = ks.SigningKID()
	// Secrets an attacker might try: raw public key bytes and the JWK x.
	pub := []byte(priv.Public().(ed25519.PublicKey))
	for _, secret := range [][]byte{pub, []byte(base64.RawURLEncoding.EncodeToString(pub))} {
		tok, err := tk.SignedString(secret)
		require.NoError(t, err)
		_, err = ks.ParseAccess(tok, tokenTestNow)
		assert.ErrorIs(t, err, ErrTokenInvalid)
	}
}

func TestTokenMalformed(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	for _, tok := range []string{"", "abc", "a.b.c", "a.b", "...", "Bearer x.y.z", strings.Repeat("a", 10000)} {
		_, err := ks.ParseAccess(tok, tokenTestNow)
		assert.ErrorIs(t, err, ErrTokenInvalid, "token %q", tok)
		assert.NotErrorIs(t, err, ErrTokenExpired)
	}
}

func TestTokenErrorDoesNotEchoToken(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	hdr := tokenTestB64(t, map[string]string{"alg": "EdDSA", "kid": ks.SigningKID()})
	tok := hdr + ".eyJzZWNyZXRfbWFya2VyIjoi.c2ln"
	_, err := ks.ParseAccess(tok, tokenTestNow)
	require.ErrorIs(t, err, ErrTokenInvalid)
	for _, part := range strings.Split(tok, ".") {
		assert.NotContains(t, err.Error(), part)
	}
	assert.NotContains(t, err.Error(), "secret_marker")
}

func TestTokenUnknownOrMissingKID(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	other := NewKeySet(keysTestNewKey(t))
	tok, err := other.SignAccess(tokenTestClaims())
	require.NoError(t, err)
	_, err = ks.ParseAccess(tok, tokenTestNow)
	assert.ErrorIs(t, err, ErrTokenInvalid)

	// Correctly signed by the current key but without a kid header.
	c := tokenTestClaims()
	c.Issuer = "channelhub"
	tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	noKID, err := tk.SignedString(ks.signing)
	require.NoError(t, err)
	_, err = ks.ParseAccess(noKID, tokenTestNow)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}

func TestTokenRequiredClaims(t *testing.T) {
	ks := NewKeySet(keysTestNewKey(t))
	sign := func(c AccessClaims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tk.Header["kid"] = ks.SigningKID()
		s, err := tk.SignedString(ks.signing)
		require.NoError(t, err)
		return s
	}
	base := tokenTestClaims()
	base.Issuer = "channelhub"

	noExp := base
	noExp.ExpiresAt = nil
	noSub := base
	noSub.Subject = ""
	badIss := base
	badIss.Issuer = "other"
	for name, c := range map[string]AccessClaims{"no exp": noExp, "no sub": noSub, "bad iss": badIss} {
		_, err := ks.ParseAccess(sign(c), tokenTestNow)
		assert.ErrorIs(t, err, ErrTokenInvalid, name)
	}
}

func TestTokenRetiredKeyAccepted(t *testing.T) {
	old := keysTestNewKey(t)
	oldKS := NewKeySet(old)
	tok, err := oldKS.SignAccess(tokenTestClaims())
	require.NoError(t, err)

	rotated := NewKeySet(keysTestNewKey(t), old.Public().(ed25519.PublicKey))
	got, err := rotated.ParseAccess(tok, tokenTestNow)
	require.NoError(t, err)
	assert.Equal(t, tokenTestClaims().Subject, got.Subject)

	// New tokens are signed with the new key.
	tok2, err := rotated.SignAccess(tokenTestClaims())
	require.NoError(t, err)
	_, err = oldKS.ParseAccess(tok2, tokenTestNow)
	assert.ErrorIs(t, err, ErrTokenInvalid)
}
