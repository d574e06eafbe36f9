package clientip

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"203.0.113.7:5000", "1.2.3.4", nil, "203.0.113.7"},                           // no proxies trusted: the header is ignored
		{"203.0.113.7:5000", "1.2.3.4", proxies, "203.0.113.7"},                       // an untrusted peer cannot claim another address
		{"10.1.2.3:5000", "198.51.100.9", proxies, "198.51.100.9"},                    // through our proxy
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.9, 10.9.9.9", proxies, "198.51.100.9"}, // the client forged the leftmost hop
		{"10.1.2.3:5000", "", proxies, "10.1.2.3"},
		{"10.1.2.3:5000", "garbage", proxies, "10.1.2.3"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		require.Equal(t, c.want, Resolve(r, c.trusted), "%+v", c)
	}
}
