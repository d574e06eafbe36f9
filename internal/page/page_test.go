package page

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := Cursor("名字", "0192")
	key, err := Decode(c, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"名字", "0192"}, key)
	for _, bad := range []string{"!!", Cursor("one"), "e30", string(make([]byte, 600))} {
		_, err := Decode(bad, 2)
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	for first, want := range map[int]int{0: DefaultSize, 1: 1, 100: 100} {
		got, err := Request{First: first}.Size()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []int{-1, 101, 1 << 30} {
		_, err := Request{First: bad}.Size()
		require.ErrorIs(t, err, ErrInvalid)
	}
}
