// Package notify delivers notifications to people: the push transport here,
// and (built on top of it) the in-app inbox, device tokens and alert rules.
//
// A Sender takes already-localised pushes and reports, per push, whether it
// was delivered to FCM, whether its device token is dead (the caller deletes
// it), or whether delivery failed after retries. Two senders exist: FCM (the
// Firebase Admin SDK, used when credentials are configured) and Log (writes
// each push to a slog.Logger, the embedded default).
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"
)

// Push is one notification to one device.
type Push struct {
	Token       string            // FCM registration token of the device
	Title, Body string            // already localised by the caller; both empty = data-only (silent) push
	Data        map[string]string // deep-link target etc.; keys must not be FCM-reserved
	CollapseKey string            // e.g. "order:<id>": a newer push with the same key replaces the older one on the device
	High        bool              // Android priority high, APNs priority 10 (else normal / 5)
}

// Outcome is what became of one push. The zero value is Failed, so a result
// nobody filled in never reads as delivered.
type Outcome int

const (
	// Failed: not delivered; the token is kept. Either the error is not one
	// that retrying fixes, or retries ran out (attempts, time or ctx).
	Failed Outcome = iota
	// Delivered: FCM accepted the message.
	Delivered
	// TokenInvalid: the token is unregistered, malformed or belongs to another
	// sender. The caller deletes it.
	TokenInvalid
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case TokenInvalid:
		return "token_invalid"
	case Failed:
		return "failed"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is the outcome of pushes[i], at results[i].
type Result struct {
	Token     string
	Outcome   Outcome
	Err       error  // nil when Delivered; never contains a whole token or a credential
	MessageID string // FCM's message name when Delivered ("projects/p/messages/ID")
}

// Sender delivers pushes. Send returns exactly one Result per push, in input
// order, even when it also returns an error. The error is non-nil only when
// ctx ended before every push was settled; those pushes are Failed.
type Sender interface {
	Send(ctx context.Context, pushes []Push) ([]Result, error)
}

// ErrInvalidPush marks a push rejected before sending (empty token, reserved
// data key, payload too big). It is never sent, so it cannot make FCM answer
// INVALID_ARGUMENT, which would read as a dead token.
var ErrInvalidPush = errors.New("notify: invalid push")

// Error is the error of a push that FCM refused or that could not reach FCM.
// Its text is scrubbed: the token is masked and nothing of the credentials is
// ever in it.
type Error struct {
	Code       string // FCM error code (UNREGISTERED, QUOTA_EXCEEDED, ...) or platform code (UNAVAILABLE, ...)
	HTTPStatus int    // 0 when no HTTP response was received
	Attempts   int    // send rounds made by this package (the SDK may retry inside one round)
	Message    string // scrubbed, at most 200 bytes
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("notify: fcm: ")
	b.WriteString(e.Code)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// MaskToken shows enough of a token to tell two apart in a log, never the
// whole token: "abcd...wxyz", or "***" when it is short.
func MaskToken(token string) string {
	if len(token) < 16 {
		return "***"
	}
	return token[:4] + "..." + token[len(token)-4:]
}

// maxPayload guards FCM's 4096-byte payload limit (notification + data) with
// some margin: a message that is too big comes back INVALID_ARGUMENT, which
// must not be mistaken for a dead token.
const maxPayload = 4000

// validatePush checks what FCM would refuse for the payload (not the token).
// It returns the outcome for an invalid push and a nil error for a valid one.
func validatePush(p Push) (Outcome, error) {
	if strings.TrimSpace(p.Token) == "" {
		return TokenInvalid, fmt.Errorf("%w: empty token", ErrInvalidPush)
	}
	size := len(p.Title) + len(p.Body)
	for k, v := range p.Data {
		lk := strings.ToLower(k)
		if k == "" || lk == "from" || lk == "message_type" ||
			strings.HasPrefix(lk, "google") || strings.HasPrefix(lk, "gcm") {
			return Failed, fmt.Errorf("%w: reserved data key %q", ErrInvalidPush, k)
		}
		size += len(k) + len(v)
	}
	if size > maxPayload {
		return Failed, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrInvalidPush, size, maxPayload)
	}
	return Delivered, nil
}

// ---------------------------------------------------------------------------
// Log sender

// Log writes each push to a logger instead of sending it. It is the push
// transport when no FCM credentials are configured. The token is masked.
type Log struct {
	logger *slog.Logger
}

// NewLog returns a Log sender; a nil logger means slog.Default().
func NewLog(logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{logger: logger}
}

// Send logs every valid push and reports it Delivered. Invalid pushes get the
// same outcome FCM would give them, so development catches them too.
func (l *Log) Send(ctx context.Context, pushes []Push) ([]Result, error) {
	results := make([]Result, len(pushes))
	for i, p := range pushes {
		results[i].Token = p.Token
		if err := ctx.Err(); err != nil {
			results[i].Err = err
			continue
		}
		if o, err := validatePush(p); err != nil {
			results[i].Outcome, results[i].Err = o, err
			l.logger.LogAttrs(ctx, slog.LevelWarn, "push rejected",
				slog.String("transport", "log"),
				slog.String("token", MaskToken(p.Token)),
				slog.String("error", err.Error()))
			continue
		}
		l.logger.LogAttrs(ctx, slog.LevelInfo, "push",
			slog.String("transport", "log"),
			slog.String("token", MaskToken(p.Token)),
			slog.String("title", p.Title),
			slog.String("body", p.Body),
			slog.Any("data", p.Data),
			slog.String("collapse_key", p.CollapseKey),
			slog.Bool("high", p.High))
		results[i].Outcome = Delivered
	}
	return results, ctx.Err()
}

// ---------------------------------------------------------------------------
// FCM sender

// MaxBatch is the most messages one SendEach call takes.
const MaxBatch = 500

// Retry bounds the retries of pushes that FCM answered 429 (QUOTA_EXCEEDED),
// 500 (INTERNAL), 502 or 504. They are retried in rounds: every push of a
// batch that needs another try goes out again in one SendEach call after one
// backoff delay.
//
// 503 (UNAVAILABLE) and network errors are not retried here: the SDK already
// retries them inside each round, 4 times after 0, 1, 2 and 4 s (or longer
// when Retry-After says so; it gives up at once when Retry-After exceeds
// 2 minutes). Another layer of retries on top would multiply the wait to
// minutes. They end Failed after the SDK's 5 tries.
type Retry struct {
	Attempts   int           // rounds per batch, the first one included (4)
	BaseDelay  time.Duration // delay before round 2; doubled each round, with jitter (1 s)
	MaxDelay   time.Duration // cap on one delay; a longer Retry-After gives up instead (30 s)
	MaxElapsed time.Duration // bound on one batch of ≤500, SDK retries included (60 s)
}

// DefaultRetry is the production retry policy.
func DefaultRetry() Retry {
	return Retry{Attempts: 4, BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxElapsed: time.Minute}
}

func (r Retry) withDefaults() Retry {
	d := DefaultRetry()
	if r.Attempts <= 0 {
		r.Attempts = d.Attempts
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = d.BaseDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = d.MaxDelay
	}
	if r.MaxElapsed <= 0 {
		r.MaxElapsed = d.MaxElapsed
	}
	return r
}

// backoff is the delay after round n (1-based): BaseDelay·2^(n-1), capped at
// MaxDelay, drawn uniformly from its upper half so instances spread out.
func (r Retry) backoff(n int) time.Duration {
	d := r.BaseDelay
	for i := 1; i < n && d < r.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, r.MaxDelay)
	half := d / 2
	return half + rand.N(d-half+1)
}

// FCMOption configures NewFCM.
type FCMOption func(*fcmConfig)

type fcmConfig struct {
	retry      Retry
	logger     *slog.Logger
	endpoint   string
	httpClient *http.Client
	clientOpts []option.ClientOption
}

// WithRetry replaces DefaultRetry; zero fields keep their defaults.
func WithRetry(r Retry) FCMOption { return func(c *fcmConfig) { c.retry = r } }

// WithLogger sets where per-send summaries go (slog.Default() otherwise).
// Tokens are masked, credentials never logged.
func WithLogger(l *slog.Logger) FCMOption { return func(c *fcmConfig) { c.logger = l } }

// WithEndpoint points the SDK at a fake or emulated FCM at baseURL (it
// appends "/v1") without authentication, over hc when non-nil. For tests;
// NewFCM then takes no credentials file.
func WithEndpoint(baseURL string, hc *http.Client) FCMOption {
	return func(c *fcmConfig) { c.endpoint, c.httpClient = strings.TrimRight(baseURL, "/"), hc }
}

// WithClientOptions appends raw Google API client options (e.g. an endpoint
// override together with a credentials file).
func WithClientOptions(opts ...option.ClientOption) FCMOption {
	return func(c *fcmConfig) { c.clientOpts = append(c.clientOpts, opts...) }
}

// batchSender is the part of *messaging.Client that FCM uses.
type batchSender interface {
	SendEach(ctx context.Context, messages []*messaging.Message) (*messaging.BatchResponse, error)
}

// FCM sends pushes through the Firebase Admin SDK's messaging client with
// SendEach (one HTTP v1 request per message, up to 50 at once), at most
// MaxBatch messages per call. It is safe for concurrent use.
type FCM struct {
	client batchSender
	retry  Retry
	logger *slog.Logger
}

// NewFCM builds the FCM sender. In production credentialsFile is the path of
// a service-account JSON file; projectID may be "" to take the project from
// that file. With WithEndpoint (tests) credentialsFile must be "". Errors
// name the file, never its content.
func NewFCM(ctx context.Context, projectID, credentialsFile string, opts ...FCMOption) (*FCM, error) {
	var c fcmConfig
	for _, o := range opts {
		o(&c)
	}
	var copts []option.ClientOption
	switch {
	case c.endpoint != "" && credentialsFile != "":
		return nil, errors.New("notify: fcm: WithEndpoint runs without authentication; pass no credentials file")
	case c.endpoint != "":
		if projectID == "" {
			return nil, errors.New("notify: fcm: project ID is required with WithEndpoint")
		}
		copts = append(copts, option.WithEndpoint(c.endpoint+"/v1"), option.WithoutAuthentication())
		if c.httpClient != nil {
			copts = append(copts, option.WithHTTPClient(c.httpClient))
		}
	case credentialsFile != "":
		copts = append(copts, option.WithCredentialsFile(credentialsFile))
	default:
		return nil, errors.New("notify: fcm: a credentials file is required")
	}
	copts = append(copts, c.clientOpts...)

	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: projectID}, copts...)
	if err != nil {
		return nil, fmt.Errorf("notify: fcm: app: %w", err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("notify: fcm: messaging client (credentials file %q): %w", credentialsFile, err)
	}
	logger := c.logger
	if logger == nil {
		logger = slog.Default()
	}
	return &FCM{client: client, retry: c.retry.withDefaults(), logger: logger}, nil
}

// Send delivers pushes in batches of at most MaxBatch, one batch after the
// other, each with its own retry rounds bounded by Retry.
func (f *FCM) Send(ctx context.Context, pushes []Push) ([]Result, error) {
	results := make([]Result, len(pushes))
	valid := make([]int, 0, len(pushes))
	for i, p := range pushes {
		results[i].Token = p.Token
		if o, err := validatePush(p); err != nil {
			results[i].Outcome, results[i].Err = o, err
			continue
		}
		valid = append(valid, i)
	}
	start := time.Now()
	for len(valid) > 0 {
		if err := ctx.Err(); err != nil {
			for _, i := range valid {
				results[i].Err = err
			}
			break
		}
		n := min(len(valid), MaxBatch)
		f.sendBatch(ctx, pushes, valid[:n], results)
		valid = valid[n:]
	}
	f.logSummary(ctx, results, time.Since(start))
	return results, ctx.Err()
}

// sendBatch settles the pushes at idx (at most MaxBatch) in results.
func (f *FCM) sendBatch(parent context.Context, pushes []Push, idx []int, results []Result) {
	ctx, cancel := context.WithTimeout(parent, f.retry.MaxElapsed)
	defer cancel()
	deadline, _ := ctx.Deadline()

	pending := idx
	msgs := make([]*messaging.Message, 0, len(idx))
	for round := 1; ; round++ {
		msgs = msgs[:0]
		for _, i := range pending {
			msgs = append(msgs, message(pushes[i]))
		}
		br, err := f.client.SendEach(ctx, msgs)
		if err == nil && len(br.Responses) != len(msgs) {
			err = fmt.Errorf("SDK answered %d responses for %d messages", len(br.Responses), len(msgs))
		}
		if err != nil { // the whole call was refused (SDK-side validation); nothing was sent
			for _, i := range pending {
				results[i].Outcome = Failed
				results[i].Err = &Error{Code: "SEND_EACH", Attempts: round, Message: scrub(err.Error(), pushes[i].Token)}
			}
			return
		}

		var retry []int
		var wait time.Duration // the longest Retry-After among the pushes to retry
		for j, r := range br.Responses {
			i := pending[j]
			if r.Success {
				results[i] = Result{Token: pushes[i].Token, Outcome: Delivered, MessageID: r.MessageID}
				continue
			}
			outcome, retryable, e := classify(r.Error, pushes[i].Token, round)
			results[i].Outcome, results[i].Err = outcome, e
			if retryable {
				retry = append(retry, i)
				wait = max(wait, retryAfter(r.Error))
			}
		}
		if len(retry) == 0 || round >= f.retry.Attempts || ctx.Err() != nil {
			return // the retryable ones keep Failed with their last error
		}
		if wait > f.retry.MaxDelay {
			return // FCM asks for a longer pause than we are willing to hold a batch
		}
		delay := max(f.retry.backoff(round), wait)
		if time.Now().Add(delay).After(deadline) {
			return // the next round could not even start inside MaxElapsed
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pending = retry
	}
}

// message builds the FCM message of one push.
func message(p Push) *messaging.Message {
	m := &messaging.Message{
		Token:   p.Token,
		Data:    p.Data,
		Android: &messaging.AndroidConfig{CollapseKey: p.CollapseKey, Priority: "normal"},
		APNS:    &messaging.APNSConfig{Headers: map[string]string{}},
	}
	if p.High {
		m.Android.Priority = "high"
	}
	if p.Title != "" || p.Body != "" {
		m.Notification = &messaging.Notification{Title: p.Title, Body: p.Body}
		if p.CollapseKey != "" {
			// collapse_key only folds messages FCM still holds for an offline
			// device; the tag replaces the notification already shown.
			m.Android.Notification = &messaging.AndroidNotification{Tag: p.CollapseKey}
		}
		m.APNS.Headers["apns-push-type"] = "alert"
		m.APNS.Headers["apns-priority"] = "5"
		if p.High {
			m.APNS.Headers["apns-priority"] = "10"
		}
	} else {
		// Data only: a background push, which APNs only takes at priority 5.
		m.APNS.Headers["apns-push-type"] = "background"
		m.APNS.Headers["apns-priority"] = "5"
		m.APNS.Payload = &messaging.APNSPayload{Aps: &messaging.Aps{ContentAvailable: true}}
	}
	if p.CollapseKey != "" {
		m.APNS.Headers["apns-collapse-id"] = apnsCollapseID(p.CollapseKey)
	}
	return m
}

// apnsCollapseID keeps a collapse key within APNs's 64 bytes: longer keys
// become their SHA-256 in hex (64 characters), so equal keys stay equal.
func apnsCollapseID(key string) string {
	if len(key) <= 64 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// classify maps one SendEach error to an outcome, whether another round may
// help, and the scrubbed error for the Result.
func classify(err error, token string, round int) (Outcome, bool, error) {
	if err == nil {
		return Delivered, false, nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// ctx ended, during an attempt or during the SDK's own backoff.
		return Failed, false, fmt.Errorf("notify: fcm: gave up after %d attempts: %w", round, err)
	}
	e := &Error{Code: errorCode(err), Attempts: round, Message: scrub(err.Error(), token)}
	if resp := errorutils.HTTPResponse(err); resp != nil {
		e.HTTPStatus = resp.StatusCode
	}
	switch {
	case messaging.IsUnregistered(err), messaging.IsSenderIDMismatch(err):
		return TokenInvalid, false, e
	case messaging.IsInvalidArgument(err):
		if field := payloadViolation(err); field != "" {
			// FCM names a field of the payload, not the token: keep the token.
			e.Message = scrub("invalid payload field "+field+": "+e.Message, token)
			return Failed, false, e
		}
		return TokenInvalid, false, e
	case messaging.IsQuotaExceeded(err), errorutils.IsResourceExhausted(err),
		messaging.IsInternal(err), errorutils.IsInternal(err),
		e.HTTPStatus == http.StatusBadGateway, e.HTTPStatus == http.StatusGatewayTimeout:
		return Failed, true, e
	default:
		// UNAVAILABLE and network errors arrive here after the SDK's own 5
		// tries; auth, permission and APNs-credential errors are not fixed by
		// trying again.
		return Failed, false, e
	}
}

// errorCode is the most specific code of an SDK error.
func errorCode(err error) string {
	for _, c := range []struct {
		is   func(error) bool
		code string
	}{
		{messaging.IsUnregistered, "UNREGISTERED"},
		{messaging.IsSenderIDMismatch, "SENDER_ID_MISMATCH"},
		{messaging.IsQuotaExceeded, "QUOTA_EXCEEDED"},
		{messaging.IsThirdPartyAuthError, "THIRD_PARTY_AUTH_ERROR"},
		{messaging.IsInvalidArgument, "INVALID_ARGUMENT"},
		{messaging.IsUnavailable, "UNAVAILABLE"},
		{messaging.IsInternal, "INTERNAL"},
		{errorutils.IsInvalidArgument, "INVALID_ARGUMENT"},
		{errorutils.IsNotFound, "NOT_FOUND"},
		{errorutils.IsUnauthenticated, "UNAUTHENTICATED"},
		{errorutils.IsPermissionDenied, "PERMISSION_DENIED"},
		{errorutils.IsResourceExhausted, "RESOURCE_EXHAUSTED"},
		{errorutils.IsInternal, "INTERNAL"},
		{errorutils.IsUnavailable, "UNAVAILABLE"},
		{errorutils.IsDeadlineExceeded, "DEADLINE_EXCEEDED"},
	} {
		if c.is(err) {
			return c.code
		}
	}
	return "UNKNOWN"
}

// payloadViolation returns the field of a google.rpc.BadRequest violation in
// an INVALID_ARGUMENT answer when it names something other than the token
// ("message.data[0].key"), or "".
func payloadViolation(err error) string {
	resp := errorutils.HTTPResponse(err)
	if resp == nil || resp.Body == nil {
		return ""
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if rerr != nil {
		return ""
	}
	var v struct {
		Error struct {
			Details []struct {
				Type            string `json:"@type"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"fieldViolations"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, d := range v.Error.Details {
		if d.Type != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		for _, fv := range d.FieldViolations {
			f := fv.Field
			if f != "" && f != "message.token" && f != "token" {
				return f
			}
		}
	}
	return ""
}

// retryAfter reads the Retry-After of an HTTP error answer (seconds or date).
func retryAfter(err error) time.Duration {
	resp := errorutils.HTTPResponse(err)
	if resp == nil {
		return 0
	}
	h := resp.Header.Get("Retry-After")
	if h == "" {
		return 0
	}
	if s, perr := strconv.ParseInt(h, 10, 64); perr == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, perr := http.ParseTime(h); perr == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// scrub makes an SDK error text safe to return and log: the token masked,
// one line, at most 200 bytes.
func scrub(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, MaskToken(token))
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// logSummary writes one line per Send: counts by outcome and by error code.
func (f *FCM) logSummary(ctx context.Context, results []Result, took time.Duration) {
	var delivered, invalid, failed int
	codes := map[string]int{}
	for _, r := range results {
		switch r.Outcome {
		case Delivered:
			delivered++
			continue
		case TokenInvalid:
			invalid++
		default:
			failed++
		}
		var e *Error
		switch {
		case errors.As(r.Err, &e):
			codes[e.Code]++
		case errors.Is(r.Err, ErrInvalidPush):
			codes["INVALID_PUSH"]++
		case r.Err != nil:
			codes["CONTEXT"]++
		}
	}
	level := slog.LevelDebug
	if failed > 0 {
		level = slog.LevelWarn
	}
	f.logger.LogAttrs(ctx, level, "push batch",
		slog.String("transport", "fcm"),
		slog.Int("pushes", len(results)),
		slog.Int("delivered", delivered),
		slog.Int("token_invalid", invalid),
		slog.Int("failed", failed),
		slog.Any("errors", codes),
		slog.Duration("took", took))
}

var (
	_ Sender = (*FCM)(nil)
	_ Sender = (*Log)(nil)
)
