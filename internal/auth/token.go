package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AccessClaims are the claims of a short-lived access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	PartyID        string   `json:"pid"`
	Roles          []string `json:"roles"`
	App            string   `json:"app"`
	SessionVersion int64    `json:"sv"`
	Family         string   `json:"fam"` // refresh-token family id (session), used by logout
}

var (
	ErrTokenExpired = errors.New("auth: access token expired")
	ErrTokenInvalid = errors.New("auth: access token invalid")
)

const (
	accessTokenIssuer = "channelhub"
	// accessTokenMaxLen bounds parsing work on hostile input; real tokens
	// are well under 1 KiB.
	accessTokenMaxLen = 8 << 10
)

// SignAccess signs c with the current key. Subject and ExpiresAt are
// required; Issuer defaults to "channelhub" and ID to a random jti. No nbf is
// set: an instance whose clock runs a little behind the signer's must not
// refuse a token just issued.
func (k *KeySet) SignAccess(c AccessClaims) (string, error) {
	if c.Subject == "" {
		return "", errors.New("auth: sign access token: missing subject")
	}
	if c.ExpiresAt == nil {
		return "", errors.New("auth: sign access token: missing expiry")
	}
	switch c.Issuer {
	case "":
		c.Issuer = accessTokenIssuer
	case accessTokenIssuer:
	default:
		return "", fmt.Errorf("auth: sign access token: issuer must be %q", accessTokenIssuer)
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = k.signingKID
	s, err := t.SignedString(k.signing)
	if err != nil {
		return "", fmt.Errorf("auth: sign access token: %w", err)
	}
	return s, nil
}

// ParseAccess verifies token at time now. It returns ErrTokenExpired for a
// correctly signed but expired token and ErrTokenInvalid for anything else.
// Error messages never contain the token or parser detail derived from it.
func (k *KeySet) ParseAccess(token string, now time.Time) (AccessClaims, error) {
	if len(token) > accessTokenMaxLen {
		return AccessClaims{}, fmt.Errorf("%w: too long", ErrTokenInvalid)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(accessTokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c AccessClaims
	_, err := p.ParseWithClaims(token, &c, k.tokenKeyFunc)
	if err != nil {
		return AccessClaims{}, tokenMapError(err)
	}
	if c.Subject == "" {
		return AccessClaims{}, fmt.Errorf("%w: missing subject", ErrTokenInvalid)
	}
	return c, nil
}

var errTokenUnknownKID = errors.New("unknown kid")

func (k *KeySet) tokenKeyFunc(t *jwt.Token) (any, error) {
	// Re-check the method: the allow-list is the parser's job, but a key
	// must never be handed to a non-EdDSA verifier (HS256 key confusion).
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
		return nil, errTokenUnknownKID
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errTokenUnknownKID
	}
	pub, ok := k.keyLookup(kid)
	if !ok {
		return nil, errTokenUnknownKID
	}
	return ed25519.PublicKey(pub), nil
}

// tokenMapError reduces jwt errors to our two sentinels plus a fixed reason;
// jwt's own messages can quote fragments of the input.
func tokenMapError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: malformed", ErrTokenInvalid)
	case errors.Is(err, errTokenUnknownKID):
		return fmt.Errorf("%w: unknown or missing kid", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: bad signature or algorithm", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenExpired):
		// Claims are validated only after the signature checks out, so this
		// is one of our own tokens.
		return ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fmt.Errorf("%w: claims rejected", ErrTokenInvalid)
	default:
		return fmt.Errorf("%w: unverifiable", ErrTokenInvalid)
	}
}
