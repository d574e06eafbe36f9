// Package fcmtest is a fake Firebase Cloud Messaging HTTP v1 server for tests.
//
// It listens on 127.0.0.1 only, is safe under the SDK's 50 concurrent
// requests, checks every request the way FCM would read it (method, path,
// headers, JSON body) and answers per token from a script. Protocol
// violations fail the test at cleanup.
//
//	fake := fcmtest.New(t, "demo-test")
//	fake.Script("tok-stale", fcmtest.Unregistered)
//	fake.Script("tok-flaky", fcmtest.Unavailable, fcmtest.OK) // 503 once, then 200
//	sender, _ := notify.NewFCM(ctx, fake.Project, "", notify.WithEndpoint(fake.URL, fake.Client()))
package fcmtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is how the fake answers one request.
type Reply int

const (
	OK               Reply = iota // 200 {"name":"projects/<p>/messages/<n>"}
	Unregistered                  // 404 NOT_FOUND, FcmError UNREGISTERED
	InvalidArgument               // 400 INVALID_ARGUMENT, FcmError INVALID_ARGUMENT ("not a valid FCM registration token")
	InvalidPayload                // 400 INVALID_ARGUMENT with a google.rpc.BadRequest violation on message.data
	SenderIDMismatch              // 403 PERMISSION_DENIED, FcmError SENDER_ID_MISMATCH
	QuotaExceeded                 // 429 RESOURCE_EXHAUSTED, FcmError QUOTA_EXCEEDED, Retry-After
	Internal                      // 500 INTERNAL, FcmError INTERNAL
	Unavailable                   // 503 UNAVAILABLE, FcmError UNAVAILABLE, Retry-After
)

func (r Reply) String() string {
	names := [...]string{"OK", "Unregistered", "InvalidArgument", "InvalidPayload", "SenderIDMismatch",
		"QuotaExceeded", "Internal", "Unavailable"}
	if r < 0 || int(r) >= len(names) {
		return fmt.Sprintf("Reply(%d)", int(r))
	}
	return names[r]
}

// Message is a message as it arrived on the wire, decoded independently of
// the SDK's types.
type Message struct {
	Token        string            `json:"token"`
	Topic        string            `json:"topic"`
	Condition    string            `json:"condition"`
	Data         map[string]string `json:"data"`
	Notification *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	} `json:"notification"`
	Android *struct {
		CollapseKey  string `json:"collapse_key"`
		Priority     string `json:"priority"`
		Notification *struct {
			Tag string `json:"tag"`
		} `json:"notification"`
	} `json:"android"`
	APNS *struct {
		Headers map[string]string `json:"headers"`
		Payload map[string]any    `json:"payload"`
	} `json:"apns"`
	Raw json.RawMessage `json:"-"`
}

// Server is the fake; all its methods are safe for concurrent use.
type Server struct {
	URL     string // http://127.0.0.1:PORT; the SDK endpoint is URL+"/v1"
	Project string

	srv        *httptest.Server
	mu         sync.Mutex
	retryAfter string
	def        Reply
	echoToken  bool
	scripts    map[string][]Reply
	requests   map[string]int
	delivered  map[string]int
	messages   []Message
	violations []string
	bearer     string // when set, every send needs "Authorization: Bearer <bearer>"
	tokenCalls int
	inFlight   int
	maxFlight  int
	seq        int
}

// New starts a fake for project on 127.0.0.1 and stops it when tb ends;
// protocol violations seen by then fail tb.
func New(tb testing.TB, project string) *Server {
	tb.Helper()
	s := &Server{
		Project:    project,
		retryAfter: "0",
		scripts:    map[string][]Reply{},
		requests:   map[string]int{},
		delivered:  map[string]int{},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fcmtest: listen: %v", err)
	}
	s.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}}
	s.srv.Start()
	s.URL = s.srv.URL
	tb.Cleanup(func() {
		s.srv.Close()
		for _, v := range s.Violations() {
			tb.Errorf("fcmtest: %s", v)
		}
	})
	return s
}

// Client is an HTTP client that can dial 127.0.0.1 only, with a timeout.
func (s *Server) Client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil || host != "127.0.0.1" {
				return nil, fmt.Errorf("fcmtest: refusing to dial %q: tests stay on 127.0.0.1", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Script sets the answers for token: one per request, the last repeated.
func (s *Server) Script(token string, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[token] = replies
}

// SetRetryAfter sets the Retry-After header of 429 and 503 answers ("0" by
// default: the SDK then waits only its own fixed backoff of 0, 1, 2, 4 s).
func (s *Server) SetRetryAfter(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = v
}

// SetDefault sets the answer for tokens with no script (OK by default).
func (s *Server) SetDefault(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = r
}

// SetEchoToken makes error messages carry the token, as a verbose server
// might, to prove that callers scrub it.
func (s *Server) SetEchoToken(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echoToken = on
}

// Requests is how many send requests arrived for token.
func (s *Server) Requests(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[token]
}

// Deliveries is how many times token was answered 200.
func (s *Server) Deliveries(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivered[token]
}

// TotalRequests counts all send requests.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

// Delivered returns the messages answered 200, in arrival order.
func (s *Server) Delivered() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// MaxInFlight is the most send requests served at the same time.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

// Violations lists the requests that FCM would have refused for their form.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// TokenRequests counts OAuth token exchanges (see ServiceAccountFile).
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// ServiceAccountFile writes a service-account JSON file with a fresh RSA key
// whose token_uri is this fake, so the production credentials path can run
// offline. From then on every send must carry the access token the fake
// issues. It returns the file's path.
func (s *Server) ServiceAccountFile(tb testing.TB) string {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("fcmtest: key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("fcmtest: key: %v", err)
	}
	sa := map[string]string{
		"type":           "service_account",
		"project_id":     s.Project,
		"private_key_id": "fcmtest-key",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "fcmtest@" + s.Project + ".iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      s.URL + "/token",
	}
	b, _ := json.Marshal(sa)
	path := filepath.Join(tb.TempDir(), "service-account.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatalf("fcmtest: %v", err)
	}
	s.mu.Lock()
	s.bearer = "ya29.fcmtest-access-token"
	s.mu.Unlock()
	return path
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// ServeHTTP implements the FCM HTTP v1 send endpoint and an OAuth token endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.serveToken(w, r)
		return
	}
	s.mu.Lock()
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	bearer := s.bearer
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	want := "/v1/projects/" + s.Project + "/messages:send"
	if r.Method != http.MethodPost || r.URL.Path != want {
		s.violate("%s %s, want POST %s", r.Method, r.URL.Path, want)
		writeError(w, http.StatusNotFound, "NOT_FOUND", "", "unknown method or path")
		return
	}
	checks := []struct{ header, want string }{
		{"Content-Type", "application/json"},
		{"X-Goog-Api-Format-Version", "2"},
	}
	for _, c := range checks {
		if got := r.Header.Get(c.header); got != c.want {
			s.violate("header %s = %q, want %q", c.header, got, c.want)
		}
	}
	if got := r.Header.Get("X-Firebase-Client"); !strings.HasPrefix(got, "fire-admin-go/") {
		s.violate("header X-Firebase-Client = %q, want fire-admin-go/<version>", got)
	}
	if got := r.Header.Get("X-Goog-Api-Client"); !strings.Contains(got, "fire-admin/") {
		s.violate("header X-Goog-Api-Client = %q, want gl-go/... fire-admin/...", got)
	}
	auth := r.Header.Get("Authorization")
	switch {
	case bearer == "" && auth != "":
		s.violate("unexpected Authorization header on an unauthenticated client")
	case bearer != "" && auth != "Bearer "+bearer:
		s.violate("Authorization header missing or wrong")
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "", "request had invalid authentication credentials")
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.violate("read body: %v", err)
		return
	}
	var req struct {
		ValidateOnly bool            `json:"validate_only"`
		Message      json.RawMessage `json:"message"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Message) == 0 {
		s.violate("body is not {\"message\":{...}}: %v: %.200s", err, body)
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "", "invalid JSON payload")
		return
	}
	if req.ValidateOnly {
		s.violate("validate_only set: a dry run is not a delivery")
	}
	var m Message
	if err := json.Unmarshal(req.Message, &m); err != nil {
		s.violate("message: %v", err)
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "", "invalid message")
		return
	}
	m.Raw = req.Message
	if m.Token == "" || m.Topic != "" || m.Condition != "" {
		s.violate("message must target exactly one token: %.200s", req.Message)
	}

	s.mu.Lock()
	s.requests[m.Token]++
	n := s.requests[m.Token]
	reply := s.def
	if script, ok := s.scripts[m.Token]; ok && len(script) > 0 {
		reply = script[min(n, len(script))-1]
	}
	if reply == OK {
		s.delivered[m.Token]++
		s.messages = append(s.messages, m)
		s.seq++
	}
	seq := s.seq
	echo := s.echoToken
	retryAfter := s.retryAfter
	s.mu.Unlock()

	tokenNote := ""
	if echo {
		tokenNote = ": " + m.Token
	}
	switch reply {
	case OK:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		fmt.Fprintf(w, `{"name":"projects/%s/messages/%d"}`, s.Project, seq)
	case Unregistered:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found"+tokenNote)
	case InvalidArgument:
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
			"The registration token is not a valid FCM registration token"+tokenNote)
	case InvalidPayload:
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
			"code": 400, "status": "INVALID_ARGUMENT",
			"message": "Invalid value at 'message.data[0].value'" + tokenNote,
			"details": []any{
				map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"},
				map[string]any{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": []any{
					map[string]any{"field": "message.data[0].value", "description": "Invalid value"},
				}},
			},
		}})
	case SenderIDMismatch:
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"+tokenNote)
	case QuotaExceeded:
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded"+tokenNote)
	case Internal:
		writeError(w, http.StatusInternalServerError, "INTERNAL", "INTERNAL", "Internal error"+tokenNote)
	case Unavailable:
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable"+tokenNote)
	}
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost ||
		r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.PostForm.Get("assertion") == "" {
		s.violate("token request: %s grant_type=%q", r.Method, r.PostForm.Get("grant_type"))
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	s.mu.Lock()
	s.tokenCalls++
	bearer := s.bearer
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": bearer, "token_type": "Bearer", "expires_in": 3600})
}

func writeError(w http.ResponseWriter, status int, platform, fcmCode, msg string) {
	e := map[string]any{"code": status, "status": platform, "message": msg}
	if fcmCode != "" {
		e["details"] = []any{map[string]any{
			"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcmCode,
		}}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
