package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
)

// PasswordHasher hashes and verifies passwords with argon2id.
type PasswordHasher struct {
	params *argon2id.Params
	dummy  string
}

var ErrPasswordPolicy = errors.New("auth: password does not meet the policy")

const (
	passwordMinRunes = 8
	passwordMaxRunes = 128

	// Bounds on parameters read back from a stored hash: a corrupted or
	// planted hash must not make Verify panic, allocate gigabytes, or accept
	// any password (an empty key compares equal to an empty key).
	passwordMaxMemoryKiB  = 1 << 20 // 1 GiB
	passwordMaxIterations = 64
	passwordMinSaltLen    = 8
	passwordMinKeyLen     = 16
	passwordMaxKeyLen     = 1024
)

// passwordDefaultParams follows the OWASP argon2id baseline
// (19 MiB, t=2, p=1).
func passwordDefaultParams() argon2id.Params {
	return argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// FastPasswordParams are deliberately weak parameters for tests and demo
// seeding; never use them for real accounts.
func FastPasswordParams() *argon2id.Params {
	return &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// NewPasswordHasher returns a hasher using p (nil = OWASP defaults). Zero
// fields in p fall back to the defaults, since zero values would make
// argon2 panic or produce trivially weak hashes.
func NewPasswordHasher(p *argon2id.Params) *PasswordHasher {
	params := passwordDefaultParams()
	if p != nil {
		def := params
		params = *p // copy so later caller mutation has no effect
		if params.Memory == 0 {
			params.Memory = def.Memory
		}
		if params.Iterations == 0 {
			params.Iterations = def.Iterations
		}
		if params.Parallelism == 0 {
			params.Parallelism = def.Parallelism
		}
		if params.SaltLength < passwordMinSaltLen {
			params.SaltLength = def.SaltLength
		}
		if params.KeyLength < passwordMinKeyLen {
			params.KeyLength = def.KeyLength
		}
	}
	h := &PasswordHasher{params: &params}
	// The dummy password is random so nobody can log in "as" the dummy.
	var buf [24]byte
	_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails since Go 1.24
	dummy, err := argon2id.CreateHash(base64.RawStdEncoding.EncodeToString(buf[:]), h.params)
	if err != nil {
		panic("auth: create dummy password hash: " + err.Error())
	}
	h.dummy = dummy
	return h
}

// Hash returns the encoded argon2id hash of pw.
func (h *PasswordHasher) Hash(pw string) (string, error) {
	s, err := argon2id.CreateHash(pw, h.params)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return s, nil
}

// Verify reports whether pw matches encoded. Malformed or out-of-bounds
// hashes yield false; it never panics.
func (h *PasswordHasher) Verify(pw, encoded string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if !passwordHashSane(encoded) {
		return false
	}
	match, err := argon2id.ComparePasswordAndHash(pw, encoded)
	return err == nil && match
}

// VerifyDummy does the same work as a real Verify so that a login for an
// unknown user takes as long as one for a known user.
func (h *PasswordHasher) VerifyDummy(pw string) {
	_ = h.Verify(pw, h.dummy)
}

func passwordHashSane(encoded string) bool {
	p, salt, key, err := argon2id.DecodeHash(encoded)
	if err != nil {
		return false
	}
	return p.Iterations >= 1 && p.Iterations <= passwordMaxIterations &&
		p.Parallelism >= 1 &&
		p.Memory >= 1 && p.Memory <= passwordMaxMemoryKiB &&
		len(salt) >= passwordMinSaltLen &&
		len(key) >= passwordMinKeyLen && len(key) <= passwordMaxKeyLen
}

// CheckPasswordPolicy enforces 8..128 characters (runes) and not only digits.
func CheckPasswordPolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: must be valid UTF-8", ErrPasswordPolicy)
	}
	n := utf8.RuneCountInString(pw)
	if n < passwordMinRunes {
		return fmt.Errorf("%w: must be at least %d characters", ErrPasswordPolicy, passwordMinRunes)
	}
	if n > passwordMaxRunes {
		return fmt.Errorf("%w: must be at most %d characters", ErrPasswordPolicy, passwordMaxRunes)
	}
	allDigits := true
	for _, r := range pw {
		if !unicode.IsDigit(r) {
			allDigits = false
			break
		}
	}
	if allDigits {
		return fmt.Errorf("%w: must not consist only of digits", ErrPasswordPolicy)
	}
	return nil
}
