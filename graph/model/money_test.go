package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecimalRoundTrip(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "12": 1200, "12.3": 1230, "12.34": 1234, "-0.05": -5, "999999999999999.99": 99999999999999999} {
		got, err := ParseMinor(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-", ".5", "1.", "1.234", "1e3", "1,00", " 1", "abc", "1000000000000000", "99999999999999999999"} {
		_, err := ParseMinor(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "1999.00", FormatMinor(199900))
	require.Equal(t, "-0.05", FormatMinor(-5))
	require.Equal(t, "0.00", FormatMinor(0))
}
