package notify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"firebase.google.com/go/v4/messaging"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"channelhub/internal/notify/fcmtest"
)

const project = "demo-test"

// fastRetry keeps the package's own backoff in milliseconds. The SDK's
// backoff for 503 (0, 1, 2, 4 s) is fixed and cannot be shortened.
var fastRetry = Retry{Attempts: 4, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxElapsed: 10 * time.Second}

// tok makes a token shaped like a real one (long, with a colon), unique per test.
func tok(t *testing.T, name string) string {
	return fmt.Sprintf("%s-%s:APA91b%s", name, t.Name(), strings.Repeat("Xy9_-", 28))
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func newFCM(t *testing.T, fake *fcmtest.Server, r Retry, logger *slog.Logger) *FCM {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []FCMOption{WithEndpoint(fake.URL, fake.Client()), WithRetry(r), WithLogger(logger)}
	f, err := NewFCM(t.Context(), fake.Project, "", opts...)
	require.NoError(t, err)
	return f
}

func jsonLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// countingSender records the size of every SendEach call on its way to the real SDK client.
type countingSender struct {
	next  batchSender
	after func() // called after each SendEach returns
	mu    sync.Mutex
	sizes []int
}

func (c *countingSender) SendEach(ctx context.Context, msgs []*messaging.Message) (*messaging.BatchResponse, error) {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(msgs))
	c.mu.Unlock()
	br, err := c.next.SendEach(ctx, msgs)
	if c.after != nil {
		c.after()
	}
	return br, err
}

func TestFCMWireFormat(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)

	longKey := "order:" + strings.Repeat("x", 80)
	pushes := []Push{
		{Token: tok(t, "high"), Title: "订单已发货", Body: "SO-2026-000123 已发货", Data: map[string]string{"link": "channelhub://order/1"},
			CollapseKey: "order:1", High: true},
		{Token: tok(t, "normal"), Title: "Statement", Body: "March statement published", CollapseKey: longKey},
		{Token: tok(t, "silent"), Data: map[string]string{"sync": "inbox"}},
	}
	res, err := f.Send(ctx, pushes)
	require.NoError(t, err)
	require.Len(t, res, 3)
	byToken := map[string]fcmtest.Message{}
	for _, m := range fake.Delivered() {
		byToken[m.Token] = m
	}
	for i, r := range res {
		require.Equal(t, Delivered, r.Outcome, r.Err)
		require.NoError(t, r.Err)
		require.Equal(t, pushes[i].Token, r.Token)
		require.True(t, strings.HasPrefix(r.MessageID, "projects/"+project+"/messages/"), r.MessageID)
		require.Equal(t, 1, fake.Deliveries(pushes[i].Token))
	}

	high := byToken[pushes[0].Token]
	require.NotNil(t, high.Notification)
	require.Equal(t, "订单已发货", high.Notification.Title)
	require.Equal(t, "SO-2026-000123 已发货", high.Notification.Body)
	require.Equal(t, map[string]string{"link": "channelhub://order/1"}, high.Data)
	require.Equal(t, "order:1", high.Android.CollapseKey)
	require.Equal(t, "high", high.Android.Priority)
	require.Equal(t, "order:1", high.Android.Notification.Tag)
	require.Equal(t, map[string]string{"apns-collapse-id": "order:1", "apns-priority": "10", "apns-push-type": "alert"}, high.APNS.Headers)

	normal := byToken[pushes[1].Token]
	require.Equal(t, "normal", normal.Android.Priority)
	require.Equal(t, longKey, normal.Android.CollapseKey)
	require.Equal(t, "5", normal.APNS.Headers["apns-priority"])
	require.Equal(t, "alert", normal.APNS.Headers["apns-push-type"])
	require.Len(t, normal.APNS.Headers["apns-collapse-id"], 64, "APNs collapse ids are at most 64 bytes")
	require.Equal(t, apnsCollapseID(longKey), normal.APNS.Headers["apns-collapse-id"])

	silent := byToken[pushes[2].Token]
	require.Nil(t, silent.Notification)
	require.Equal(t, map[string]string{"sync": "inbox"}, silent.Data)
	require.Equal(t, "background", silent.APNS.Headers["apns-push-type"])
	require.Equal(t, "5", silent.APNS.Headers["apns-priority"])
	require.NotContains(t, silent.APNS.Headers, "apns-collapse-id")
	require.Equal(t, map[string]any{"aps": map[string]any{"content-available": float64(1)}}, silent.APNS.Payload)
}

func TestFCMOutcomesInInputOrder(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	fake.SetEchoToken(true) // error texts carry the token; the sender must scrub it
	logger, logs := jsonLogger()
	f := newFCM(t, fake, fastRetry, logger)

	type want struct {
		script   []fcmtest.Reply
		outcome  Outcome
		code     string
		status   int
		requests int
	}
	cases := []struct {
		name string
		want want
	}{
		{"ok1", want{nil, Delivered, "", 0, 1}},
		{"unregistered", want{[]fcmtest.Reply{fcmtest.Unregistered}, TokenInvalid, "UNREGISTERED", 404, 1}},
		{"invalid", want{[]fcmtest.Reply{fcmtest.InvalidArgument}, TokenInvalid, "INVALID_ARGUMENT", 400, 1}},
		{"mismatch", want{[]fcmtest.Reply{fcmtest.SenderIDMismatch}, TokenInvalid, "SENDER_ID_MISMATCH", 403, 1}},
		{"badpayload", want{[]fcmtest.Reply{fcmtest.InvalidPayload}, Failed, "INVALID_ARGUMENT", 400, 1}},
		{"quota", want{[]fcmtest.Reply{fcmtest.QuotaExceeded}, Failed, "QUOTA_EXCEEDED", 429, fastRetry.Attempts}},
		{"quota-then-ok", want{[]fcmtest.Reply{fcmtest.QuotaExceeded, fcmtest.OK}, Delivered, "", 0, 2}},
		{"internal", want{[]fcmtest.Reply{fcmtest.Internal}, Failed, "INTERNAL", 500, fastRetry.Attempts}},
		{"internal-then-ok", want{[]fcmtest.Reply{fcmtest.Internal, fcmtest.Internal, fcmtest.OK}, Delivered, "", 0, 3}},
		{"unavailable-then-ok", want{[]fcmtest.Reply{fcmtest.Unavailable, fcmtest.OK}, Delivered, "", 0, 2}},
		{"ok2", want{nil, Delivered, "", 0, 1}},
	}
	pushes := make([]Push, len(cases))
	for i, c := range cases {
		pushes[i] = Push{Token: tok(t, c.name), Title: "t", Body: "b", CollapseKey: "k:" + c.name}
		if c.want.script != nil {
			fake.Script(pushes[i].Token, c.want.script...)
		}
	}

	res, err := f.Send(ctx, pushes)
	require.NoError(t, err)
	require.Len(t, res, len(pushes))
	for i, c := range cases {
		r := res[i]
		require.Equal(t, pushes[i].Token, r.Token, c.name)
		require.Equal(t, c.want.outcome, r.Outcome, "%s: %v", c.name, r.Err)
		require.Equal(t, c.want.requests, fake.Requests(pushes[i].Token), c.name)
		if c.want.outcome == Delivered {
			require.NoError(t, r.Err, c.name)
			require.Equal(t, 1, fake.Deliveries(pushes[i].Token), "%s delivered exactly once", c.name)
			continue
		}
		require.Zero(t, fake.Deliveries(pushes[i].Token), c.name)
		var e *Error
		require.ErrorAs(t, r.Err, &e, c.name)
		require.Equal(t, c.want.code, e.Code, c.name)
		require.Equal(t, c.want.status, e.HTTPStatus, c.name)
		require.NotContains(t, r.Err.Error(), pushes[i].Token, "%s: the error must not carry the token", c.name)
		require.Contains(t, r.Err.Error(), MaskToken(pushes[i].Token), "%s: the echoed token is masked", c.name)
	}
	var quota *Error
	require.ErrorAs(t, res[5].Err, &quota)
	require.Equal(t, fastRetry.Attempts, quota.Attempts)

	out := logs.String()
	require.Contains(t, out, `"msg":"push batch"`)
	require.Contains(t, out, `"delivered":5`)
	for _, p := range pushes {
		require.NotContains(t, out, p.Token)
	}
}

func TestFCMUnavailableThenOKDeliveredOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)
	token := tok(t, "flaky")
	fake.Script(token, fcmtest.Unavailable, fcmtest.OK)

	start := time.Now()
	res, err := f.Send(ctx, []Push{{Token: token, Title: "t", Body: "b"}})
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Outcome, res[0].Err)
	require.Equal(t, 2, fake.Requests(token), "the SDK retried the 503 once")
	require.Equal(t, 1, fake.Deliveries(token), "delivered exactly once")
	require.Less(t, time.Since(start), 2*time.Second, "the SDK's first retry has no delay and Retry-After is 0")
}

// The SDK retries a 503 itself (after 0, 1, 2, 4 s); MaxElapsed cuts that
// short, and the package adds no rounds of its own.
func TestFCMAlwaysUnavailableBoundedByMaxElapsed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	r := fastRetry
	r.MaxElapsed = 1500 * time.Millisecond
	f := newFCM(t, fake, r, nil)
	token := tok(t, "down")
	fake.Script(token, fcmtest.Unavailable)

	start := time.Now()
	res, err := f.Send(ctx, []Push{{Token: token, Title: "t", Body: "b"}})
	took := time.Since(start)
	require.NoError(t, err, "the caller's ctx is fine; only the batch's budget ran out")
	require.Equal(t, Failed, res[0].Outcome)
	require.ErrorIs(t, res[0].Err, context.DeadlineExceeded)
	require.Less(t, took, 3*time.Second)
	require.GreaterOrEqual(t, took, r.MaxElapsed-100*time.Millisecond)
	require.Equal(t, 3, fake.Requests(token), "SDK tries at 0 s, 0 s and 1 s; the 2 s wait is cut by MaxElapsed")
	require.Zero(t, fake.Deliveries(token))
}

// With enough budget, an endless 503 costs exactly the SDK's 5 tries (about
// 7 s) and ends Failed: no second layer of retries multiplies it.
func TestFCMAlwaysUnavailableSDKRetriesOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the SDK's fixed 0+1+2+4 s backoff")
	}
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)
	token := tok(t, "down")
	fake.Script(token, fcmtest.Unavailable)

	start := time.Now()
	res, err := f.Send(ctx, []Push{{Token: token, Title: "t", Body: "b"}})
	took := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, Failed, res[0].Outcome)
	var e *Error
	require.ErrorAs(t, res[0].Err, &e)
	require.Equal(t, "UNAVAILABLE", e.Code)
	require.Equal(t, 503, e.HTTPStatus)
	require.Equal(t, 1, e.Attempts)
	require.Equal(t, 5, fake.Requests(token))
	require.GreaterOrEqual(t, took, 7*time.Second)
	require.Less(t, took, 10*time.Second)
}

func TestFCMQuotaRetryAfterBeyondMaxDelayGivesUp(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	fake.SetRetryAfter("120")
	f := newFCM(t, fake, fastRetry, nil)
	token := tok(t, "quota")
	fake.Script(token, fcmtest.QuotaExceeded, fcmtest.OK)

	start := time.Now()
	res, err := f.Send(ctx, []Push{{Token: token, Title: "t", Body: "b"}})
	require.NoError(t, err)
	require.Equal(t, Failed, res[0].Outcome)
	require.Equal(t, 1, fake.Requests(token), "a 120 s Retry-After exceeds MaxDelay: give up instead of holding the batch")
	require.Less(t, time.Since(start), time.Second)
}

func TestFCMQuotaRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	fake.SetRetryAfter("1")
	r := fastRetry
	r.MaxDelay = 2 * time.Second
	f := newFCM(t, fake, r, nil)
	token := tok(t, "quota")
	fake.Script(token, fcmtest.QuotaExceeded, fcmtest.OK)

	start := time.Now()
	res, err := f.Send(ctx, []Push{{Token: token, Title: "t", Body: "b"}})
	took := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Outcome, res[0].Err)
	require.Equal(t, 2, fake.Requests(token))
	require.GreaterOrEqual(t, took, time.Second, "waited the 1 s Retry-After, not the 5 ms backoff")
	require.Less(t, took, 3*time.Second)
}

func TestFCMBatchesOf500(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)
	counter := &countingSender{next: f.client}
	f.client = counter

	pushes := make([]Push, 1200)
	for i := range pushes {
		pushes[i] = Push{Token: tok(t, fmt.Sprintf("d%04d", i)), Title: "新品到货", Body: "Launch", Data: map[string]string{"i": fmt.Sprint(i)}}
	}
	res, err := f.Send(ctx, pushes)
	require.NoError(t, err)
	require.Equal(t, []int{500, 500, 200}, counter.sizes)
	require.Equal(t, 1200, fake.TotalRequests())
	require.LessOrEqual(t, fake.MaxInFlight(), 50, "SendEach uses at most 50 workers")
	for i, r := range res {
		require.Equal(t, pushes[i].Token, r.Token)
		require.Equal(t, Delivered, r.Outcome, r.Err)
		require.Equal(t, 1, fake.Deliveries(pushes[i].Token))
	}
	for _, m := range fake.Delivered() {
		require.Equal(t, m.Token, pushes[mustAtoi(t, m.Data["i"])].Token, "each message carries its own push's data")
	}
}

// Retry rounds resend only the pushes that need it, in one SendEach call.
func TestFCMRetryRoundResendsOnlyRetryable(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)
	counter := &countingSender{next: f.client}
	f.client = counter

	pushes := make([]Push, 10)
	for i := range pushes {
		pushes[i] = Push{Token: tok(t, fmt.Sprint(i)), Title: "t", Body: "b"}
	}
	fake.Script(pushes[3].Token, fcmtest.QuotaExceeded, fcmtest.OK)
	fake.Script(pushes[7].Token, fcmtest.Internal, fcmtest.OK)
	fake.Script(pushes[8].Token, fcmtest.Unregistered)

	res, err := f.Send(ctx, pushes)
	require.NoError(t, err)
	require.Equal(t, []int{10, 2}, counter.sizes)
	for i, r := range res {
		want := Delivered
		if i == 8 {
			want = TokenInvalid
		}
		require.Equal(t, want, r.Outcome, "push %d: %v", i, r.Err)
	}
	require.Equal(t, 12, fake.TotalRequests(), "10 in round 1, 2 in round 2")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

func TestFCMInvalidPushesNeverSent(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)

	good := tok(t, "good")
	pushes := []Push{
		{Token: "", Title: "t"},
		{Token: tok(t, "reserved"), Title: "t", Data: map[string]string{"google.sent_time": "1"}},
		{Token: good, Title: "t", Body: "b"},
		{Token: tok(t, "from"), Title: "t", Data: map[string]string{"from": "x"}},
		{Token: tok(t, "big"), Title: "t", Body: strings.Repeat("长", 1500)},
	}
	res, err := f.Send(ctx, pushes)
	require.NoError(t, err)
	require.Equal(t, []Outcome{TokenInvalid, Failed, Delivered, Failed, Failed},
		[]Outcome{res[0].Outcome, res[1].Outcome, res[2].Outcome, res[3].Outcome, res[4].Outcome})
	for _, i := range []int{0, 1, 3, 4} {
		require.ErrorIs(t, res[i].Err, ErrInvalidPush)
	}
	require.Equal(t, 1, fake.TotalRequests(), "only the valid push reached FCM")
	require.Equal(t, 1, fake.Deliveries(good))
}

func TestFCMContextCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, Retry{Attempts: 5, BaseDelay: 10 * time.Second, MaxDelay: 20 * time.Second, MaxElapsed: time.Minute}, nil)
	token, other := tok(t, "quota"), tok(t, "later")

	pushes := make([]Push, 0, MaxBatch+1)
	for i := range MaxBatch {
		pushes = append(pushes, Push{Token: fmt.Sprintf("%s-%d", token, i), Title: "t"})
		fake.Script(pushes[i].Token, fcmtest.QuotaExceeded)
	}
	pushes = append(pushes, Push{Token: other, Title: "t"}) // in the second batch, never reached

	ctx, cancel := context.WithCancel(t.Context())
	var cancelled time.Time
	f.client = &countingSender{next: f.client, after: func() { // the first round is over: the 10 s backoff starts
		cancelled = time.Now()
		cancel()
	}}
	res, err := f.Send(ctx, pushes)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(cancelled), time.Second, "ctx ends the backoff at once")
	require.Len(t, res, len(pushes))
	for _, r := range res {
		require.Equal(t, Failed, r.Outcome)
		require.Error(t, r.Err)
	}
	require.ErrorIs(t, res[MaxBatch].Err, context.Canceled)
	require.Zero(t, fake.Requests(other))
	require.Equal(t, MaxBatch, fake.TotalRequests(), "one round of the first batch, nothing after the cancel")
}

func TestFCMConcurrentSends(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	f := newFCM(t, fake, fastRetry, nil)

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			pushes := make([]Push, 60)
			for i := range pushes {
				pushes[i] = Push{Token: tok(t, fmt.Sprintf("g%d-%d", g, i)), Title: "t"}
				if i%10 == 0 {
					fake.Script(pushes[i].Token, fcmtest.Internal, fcmtest.OK)
				}
			}
			res, err := f.Send(ctx, pushes)
			if !assertNoErr(t, err) {
				return
			}
			for i, r := range res {
				if r.Outcome != Delivered || r.Token != pushes[i].Token {
					t.Errorf("goroutine %d push %d: %v %v", g, i, r.Outcome, r.Err)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 4*60+4*6, fake.TotalRequests())
}

func assertNoErr(t *testing.T, err error) bool {
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

// The production path: a service-account file, an OAuth token exchange and
// bearer-authenticated sends, all against the fake on 127.0.0.1.
func TestFCMCredentialsFile(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	fake := fcmtest.New(t, project)
	path := fake.ServiceAccountFile(t)
	logger, logs := jsonLogger()

	f, err := NewFCM(ctx, "", path, // the project comes from the file
		WithClientOptions(option.WithEndpoint(fake.URL+"/v1")), WithRetry(fastRetry), WithLogger(logger))
	require.NoError(t, err)
	token := tok(t, "auth")
	res, err := f.Send(ctx, []Push{{Token: token, Title: "t", Body: "b"}})
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Outcome, res[0].Err)
	require.GreaterOrEqual(t, fake.TokenRequests(), 1)
	require.NotContains(t, logs.String(), "PRIVATE KEY")
	require.NotContains(t, logs.String(), "ya29.")
}

func TestNewFCMConfig(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, err := NewFCM(ctx, "p", "")
	require.ErrorContains(t, err, "credentials file is required")
	_, err = NewFCM(ctx, "p", "/x.json", WithEndpoint("http://127.0.0.1:1", nil))
	require.Error(t, err)
	_, err = NewFCM(ctx, "", "", WithEndpoint("http://127.0.0.1:1", nil))
	require.ErrorContains(t, err, "project ID")
}

func TestLogSender(t *testing.T) {
	t.Parallel()
	logger, logs := jsonLogger()
	l := NewLog(logger)
	token := tok(t, "dev")
	pushes := []Push{
		{Token: token, Title: "订单已审核", Body: "SO-1", Data: map[string]string{"link": "channelhub://order/1"}, CollapseKey: "order:1", High: true},
		{Token: "", Title: "x"},
		{Token: tok(t, "bad"), Title: "x", Data: map[string]string{"gcm.x": "1"}},
	}
	res, err := l.Send(t.Context(), pushes)
	require.NoError(t, err)
	require.Equal(t, Delivered, res[0].Outcome)
	require.Equal(t, token, res[0].Token)
	require.Equal(t, TokenInvalid, res[1].Outcome)
	require.Equal(t, Failed, res[2].Outcome)

	out := logs.String()
	require.NotContains(t, out, token, "never the whole token")
	require.NotContains(t, out, pushes[2].Token)
	require.Contains(t, out, `"token":"`+MaskToken(token)+`"`)
	require.Contains(t, out, "订单已审核")
	require.Contains(t, out, `"collapse_key":"order:1"`)
	require.Contains(t, out, `"link":"channelhub://order/1"`)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err = l.Send(ctx, pushes[:1])
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, Failed, res[0].Outcome)
}

func TestMaskAndScrub(t *testing.T) {
	t.Parallel()
	require.Equal(t, "***", MaskToken("short"))
	require.Equal(t, "abcd...wxyz", MaskToken("abcdefghijklmnopqrstuvwxyz"))
	token := "abcdefghijklmnopqrstuvwxyz"
	s := scrub("bad token "+token+"\n\t"+strings.Repeat("错", 100), token)
	require.NotContains(t, s, token)
	require.NotContains(t, s, "\n")
	require.LessOrEqual(t, len(s), 203)
	require.True(t, strings.HasSuffix(s, "..."))
	require.NotContains(t, s, "\uFFFD")
}
