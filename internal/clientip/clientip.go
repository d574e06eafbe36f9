// Package clientip finds the address a request came from, trusting
// X-Forwarded-For only as far as it was written by known proxies.
package clientip

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type key struct{}

// With stores ip in ctx.
func With(ctx context.Context, ip string) context.Context { return context.WithValue(ctx, key{}, ip) }

// From returns the client address stored in ctx, or "".
func From(ctx context.Context) string { s, _ := ctx.Value(key{}).(string); return s }

// Resolve returns the client address of r. The peer address counts unless it
// is one of the trusted proxies; then X-Forwarded-For is read from the right,
// skipping trusted hops, and the first other address is the client. Anything
// left of it was written by the client and proves nothing.
func Resolve(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
