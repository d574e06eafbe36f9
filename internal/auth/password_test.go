package auth

import (
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPasswordHashVerify(t *testing.T) {
	h := NewPasswordHasher(FastPasswordParams())
	enc, err := h.Hash("correct horse battery")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=1024,t=1,p=1$"), enc)

	assert.True(t, h.Verify("correct horse battery", enc))
	assert.False(t, h.Verify("correct horse batterY", enc))
	assert.False(t, h.Verify("", enc))

	enc2, err := h.Hash("correct horse battery")
	require.NoError(t, err)
	assert.NotEqual(t, enc, enc2, "salt must be random")

	// Hashes made with other params still verify (params live in the hash).
	other := NewPasswordHasher(&argon2id.Params{Memory: 2048, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32})
	enc3, err := other.Hash("pw-from-elsewhere")
	require.NoError(t, err)
	assert.True(t, h.Verify("pw-from-elsewhere", enc3))
}

func TestPasswordDefaults(t *testing.T) {
	h := NewPasswordHasher(nil)
	assert.Equal(t, argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, *h.params)
	enc, err := h.Hash("s3cure-enough")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$"), enc)
	assert.True(t, h.Verify("s3cure-enough", enc))

	// Zero fields would make argon2 panic; they fall back to defaults.
	z := NewPasswordHasher(&argon2id.Params{})
	assert.Equal(t, *h.params, *z.params)
}

func TestPasswordMalformedHash(t *testing.T) {
	h := NewPasswordHasher(FastPasswordParams())
	good, err := h.Hash("password1")
	require.NoError(t, err)
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	salt, key := parts[4], parts[5]

	bad := []string{
		"",
		"plaintext",
		"$argon2id$",
		"$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=18$m=1024,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=x,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + key, // argon2 would panic
		"$argon2id$v=19$m=1024,t=1,p=0$" + salt + "$" + key, // argon2 would panic
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$",        // empty key would match anything
		"$argon2id$v=19$m=1024,t=1,p=1$$" + key,              // empty salt
		"$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + "!!", // bad base64
		good + "$extra",
	}
	for _, enc := range bad {
		assert.NotPanics(t, func() {
			assert.False(t, h.Verify("password1", enc), enc)
		})
	}
}

func TestPasswordVerifyDummy(t *testing.T) {
	h := NewPasswordHasher(FastPasswordParams())
	require.NotEmpty(t, h.dummy)
	p, _, _, err := argon2id.DecodeHash(h.dummy)
	require.NoError(t, err)
	assert.Equal(t, *FastPasswordParams(), *p, "dummy must cost the same as real hashes")
	assert.NotPanics(t, func() { h.VerifyDummy("anything") })
	assert.False(t, h.Verify("", h.dummy))
}

func TestPasswordPolicy(t *testing.T) {
	ok := []string{
		"abcdefgh",
		"1234567a",
		"ümlautüü",
		"🔑🔑🔑🔑🔑🔑🔑🔑", // 8 runes, 32 bytes
		strings.Repeat("x", 128),
	}
	for _, pw := range ok {
		assert.NoError(t, CheckPasswordPolicy(pw), pw)
	}
	bad := []string{
		"",
		"abcdefg",
		"12345678",
		"١٢٣٤٥٦٧٨", // Arabic-Indic digits only
		strings.Repeat("x", 129),
		strings.Repeat("ü", 129),
		"abcdefg\xff",
	}
	for _, pw := range bad {
		err := CheckPasswordPolicy(pw)
		assert.ErrorIs(t, err, ErrPasswordPolicy, "%q", pw)
	}
}
