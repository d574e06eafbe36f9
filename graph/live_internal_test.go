package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/broker"
)

// recvFollow returns the next value of out within a bound.
func recvFollow(t *testing.T, out <-chan string) (string, bool) {
	t.Helper()
	select {
	case v, ok := <-out:
		return v, ok
	case <-time.After(5 * time.Second):
		t.Fatal("nothing from the subscription in time")
		return "", false
	}
}

// A subscription whose socket does not read keeps a bounded queue, then one
// Gap (its reader refetches); it holds no goroutine while idle, and its end
// gives the socket's slot back.
func TestFollowSlowReaderAndIdle(t *testing.T) {
	b := broker.NewMemory(broker.Options{})
	defer b.Close()
	count := new(atomic.Int32)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), subCountKey{}, count))
	defer cancel()
	out, err := follow(ctx, b, []string{"t"}, func(m broker.Message) (string, bool, error) {
		if m.Gap {
			return "gap", true, nil
		}
		return string(m.Payload), true, nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 1, count.Load())

	const sent = 40
	for i := range sent {
		require.NoError(t, b.Publish(ctx, "t", fmt.Append(nil, i)))
	}
	// The queue holds followBuffer, then the Gap; out and the drain may
	// hold two more, depending on when the drain started. The rest were
	// dropped.
	var got []string
	for len(got) <= 2+followBuffer && (len(got) == 0 || got[len(got)-1] != "gap") {
		v, ok := recvFollow(t, out)
		require.True(t, ok)
		got = append(got, v)
	}
	require.Equal(t, "gap", got[len(got)-1], "%v", got)
	kept := got[:len(got)-1]
	require.GreaterOrEqual(t, len(kept), followBuffer)
	for i, v := range kept {
		require.Equal(t, fmt.Sprint(i), v, "in order, none skipped before the gap")
	}
	// The drain may run between the publishes and make room after the gap;
	// what came in then follows the gap in order (with a gap of its own when
	// the queue overflowed again), and nothing is delivered twice.
	require.NoError(t, b.Publish(ctx, "t", []byte("later")))
	last, prev := len(kept)-1, "gap"
	for after := 0; ; after++ {
		require.LessOrEqual(t, after, 2*sent, "the subscription ends at the next message")
		v, _ := recvFollow(t, out)
		if v == "later" {
			break
		}
		if v == "gap" {
			require.NotEqual(t, "gap", prev, "one gap per overflow")
		} else {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, "after the gap: %q", v)
			require.Greater(t, n, last, "in order after the gap, none twice")
			last = n
		}
		prev = v
	}

	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), ").drain(")
	}, 5*time.Second, 10*time.Millisecond, "an idle subscription holds no goroutine")
	cancel()
	_, ok := recvFollow(t, out)
	require.False(t, ok, "the socket's end closes the subscription")
	require.Eventually(t, func() bool { return count.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// An error from next (the order left the viewer's scope) ends the
// subscription and unsubscribes it.
func TestFollowEndsOnError(t *testing.T) {
	b := broker.NewMemory(broker.Options{})
	defer b.Close()
	count := new(atomic.Int32)
	ctx := context.WithValue(t.Context(), subCountKey{}, count)
	out, err := follow(ctx, b, []string{"t"}, func(m broker.Message) (string, bool, error) {
		if string(m.Payload) == "gone" {
			return "", false, errors.New("not found")
		}
		return string(m.Payload), true, nil
	})
	require.NoError(t, err)
	require.NoError(t, b.Publish(ctx, "t", []byte("a")))
	v, _ := recvFollow(t, out)
	require.Equal(t, "a", v)
	require.NoError(t, b.Publish(ctx, "t", []byte("gone")))
	_, ok := recvFollow(t, out)
	require.False(t, ok)
	require.Eventually(t, func() bool { return count.Load() == 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, b.Publish(ctx, "t", []byte("after")), "publishing to a topic nobody follows any more")
}
