package signaling

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token limits: a token is untrusted input until its signature is checked, and
// its claims size the session's grants.
const (
	MaxTokenBytes   = 8 << 10 // longer tokens are refused before parsing
	MaxRoomPatterns = 256     // room patterns per namespace in one token
	maxNameBytes    = 128     // display name, truncated beyond this
	maxUserBytes    = 128     // sub
)

// Claims are the JWT claims Switchboard reads. sub and exp are required.
//
//	{"sub":"alice","exp":1767225600,"name":"Alice","rooms":["team-*"],"ns":{"chat":["*"]}}
//
// rooms grants rooms of the default namespace; ns grants rooms of named
// namespaces. A pattern is a room name, a prefix ending in "*" ("team-*"), or
// "*" for every room. modes, in the syntax of --room-modes
// ("p2p-*=mesh,*=auto"), pins the mode of the rooms this user creates.
type Claims struct {
	jwt.RegisteredClaims
	Name  string              `json:"name,omitempty"`
	Rooms []string            `json:"rooms,omitempty"`
	NS    map[string][]string `json:"ns,omitempty"`
	Modes string              `json:"modes,omitempty"`
}

// Identity is what a verified token says about a session.
type Identity struct {
	User    string
	Name    string
	Expires time.Time
	Grants  Grants
	// Modes, from the "modes" claim, pin the mode of a room this session
	// creates (first match wins; before the server's RoomModes).
	Modes []RoomModeRule
}

// Grants are the room patterns a token grants: Rooms in the default
// namespace, NS[name] in a named one. (A struct rather than one map: most
// tokens name no namespace, and an idle session should not carry a map.)
type Grants struct {
	Rooms []string
	NS    map[string][]string
}

// Allows reports whether room in namespace ns ("" for the default one) is granted.
func (g Grants) Allows(ns, room string) bool {
	patterns := g.Rooms
	if ns != "" {
		patterns = g.NS[ns]
	}
	for _, p := range patterns {
		if matchRoom(p, room) {
			return true
		}
	}
	return false
}

func matchRoom(pattern, room string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(room, prefix)
	}
	return pattern == room
}

// Verifier checks tokens: HS256 with a shared secret, or RS256 / ES256 with a
// public key. It is safe for concurrent use.
type Verifier struct {
	key    any
	parser *jwt.Parser
	now    func() time.Time
}

// NewHMACVerifier verifies HS256 tokens signed with secret.
func NewHMACVerifier(secret []byte) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	return newVerifier(secret, jwt.SigningMethodHS256.Alg()), nil
}

// NewPublicKeyVerifier verifies RS256 (RSA key) or ES256 (P-256 key) tokens
// against a PEM-encoded public key (PKIX "PUBLIC KEY" or a certificate).
func NewPublicKeyVerifier(pemBytes []byte) (*Verifier, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: public key file holds no PEM block", ErrBadConfig)
	}
	var pub any
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate: %w", ErrBadConfig, err)
		}
		pub = cert.PublicKey
	default:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: public key: %w", ErrBadConfig, err)
		}
		pub = k
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return newVerifier(k, jwt.SigningMethodRS256.Alg()), nil
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("%w: ES256 needs a P-256 key, got %s", ErrBadConfig, k.Curve.Params().Name)
		}
		return newVerifier(k, jwt.SigningMethodES256.Alg()), nil
	}
	return nil, fmt.Errorf("%w: unsupported public key type %T", ErrBadConfig, pub)
}

// TokenLeeway is the clock skew allowed when checking "exp": a token is
// accepted, and a session kept, until exp + TokenLeeway.
const TokenLeeway = 5 * time.Second

func newVerifier(key any, alg string) *Verifier {
	v := &Verifier{key: key, now: time.Now}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{alg}), // never "none", never an algorithm the key was not made for
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(TokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// Verify checks a token and returns the identity it carries. Errors are
// *Error with code unauthorized or token_expired; an expired token is only
// reported as such when its signature is valid.
func (v *Verifier) Verify(token string) (*Identity, error) {
	if token == "" {
		return nil, errorf(CodeUnauthorized, "no token")
	}
	if len(token) > MaxTokenBytes {
		return nil, errorf(CodeUnauthorized, "token longer than %d bytes", MaxTokenBytes)
	}
	var c Claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errorf(CodeTokenExpired, "token expired")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, errorf(CodeUnauthorized, "malformed token")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, errorf(CodeUnauthorized, "invalid token signature or algorithm")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, errorf(CodeUnauthorized, "token has no exp")
	default:
		return nil, errorf(CodeUnauthorized, "invalid token")
	}
	return identityFrom(&c)
}

func identityFrom(c *Claims) (*Identity, error) {
	if c.Subject == "" {
		return nil, errorf(CodeUnauthorized, "token has no sub")
	}
	if len(c.Subject) > maxUserBytes {
		return nil, errorf(CodeUnauthorized, "token sub longer than %d bytes", maxUserBytes)
	}
	if len(c.Rooms) > MaxRoomPatterns {
		return nil, errorf(CodeUnauthorized, "token grants more than %d room patterns", MaxRoomPatterns)
	}
	id := &Identity{User: c.Subject, Name: truncate(c.Name, maxNameBytes), Grants: Grants{Rooms: c.Rooms}}
	if c.ExpiresAt != nil {
		id.Expires = c.ExpiresAt.Time
	}
	for ns, rooms := range c.NS {
		if len(rooms) > MaxRoomPatterns {
			return nil, errorf(CodeUnauthorized, "token grants more than %d room patterns in %q", MaxRoomPatterns, ns)
		}
	}
	if len(c.NS) > 0 {
		id.Grants.NS = c.NS
	}
	if c.Modes != "" {
		modes, err := ParseRoomModeRules(c.Modes)
		if err != nil {
			return nil, errorf(CodeUnauthorized, "token modes claim: %v", err)
		}
		if len(modes) > MaxRoomPatterns {
			return nil, errorf(CodeUnauthorized, "token pins more than %d room modes", MaxRoomPatterns)
		}
		id.Modes = modes
	}
	return id, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n]
}

// TokenSpec describes a token to mint.
type TokenSpec struct {
	User  string              // sub, required
	Name  string              // display name, optional
	Rooms []string            // room patterns in the default namespace
	NS    map[string][]string // room patterns per named namespace
	Modes string              // room modes this user's rooms get, as --room-modes ("*=auto")
	TTL   time.Duration       // required
}

// MintHS256 signs an HS256 token for spec with secret (used by
// `switchboard token`, the dev-mode token endpoint and tests).
func MintHS256(secret []byte, spec TokenSpec) (string, error) {
	if spec.User == "" || spec.TTL <= 0 {
		return "", fmt.Errorf("%w: a token needs a user and a positive ttl", ErrBadConfig)
	}
	now := time.Now()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   spec.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(spec.TTL)),
		},
		Name:  spec.Name,
		Rooms: spec.Rooms,
		NS:    spec.NS,
		Modes: spec.Modes,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
