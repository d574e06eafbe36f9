package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The visit scenario: each client is a salesman of its own (one open visit
// per salesman) doing presign → upload → check-in → check-out at the demo
// stores. A sample is presign + check-in as the API answers them; the upload
// (phone to store) and the check-out are not timed.

type visitStore struct {
	ID  string
	Geo struct{ Latitude, Longitude float64 }
}

func prepareVisits(api *client, password string, clients int, out io.Writer) ([]string, []visitStore, error) {
	hq, err := api.login("13800000000", password, "CONSOLE")
	if err != nil {
		return nil, nil, err
	}
	var d struct {
		Parties struct {
			Edges []struct {
				Node struct {
					visitStore
					Code, Kind string
				}
			}
		}
	}
	if err := api.do(hq, `{ parties(first: 100) { edges { node { id code kind geo { latitude longitude } } } } }`, nil, &d); err != nil {
		return nil, nil, err
	}
	var branch string
	var stores []visitStore
	for _, e := range d.Parties.Edges {
		switch {
		case e.Node.Code == "BR-HZ":
			branch = e.Node.ID
		case e.Node.Kind == "STORE" && e.Node.Geo.Latitude != 0:
			stores = append(stores, e.Node.visitStore)
		}
	}
	if branch == "" || len(stores) == 0 {
		return nil, nil, fmt.Errorf("no BR-HZ branch or stores: run against the demo channel")
	}
	ids := make([]string, len(stores))
	for i, s := range stores {
		ids[i] = s.ID
	}
	tokens := make([]string, clients)
	for i := range clients {
		phone := fmt.Sprintf("13977%06d", i)
		var c struct {
			UserCreate struct {
				User   *struct{ ID string }
				Errors []struct{ Code string }
			}
		}
		if err := api.do(hq, `mutation($in: UserCreateInput!) { userCreate(input: $in) { user { id } errors { code } } }`,
			map[string]any{"in": map[string]any{"partyId": branch, "phone": phone, "name": fmt.Sprintf("压测业务员 %d", i),
				"roles": []string{"SALESMAN"}, "password": password}}, &c); err != nil {
			return nil, nil, fmt.Errorf("userCreate: %w", err)
		}
		if c.UserCreate.User != nil { // a new salesman: assign the stores
			var a struct{ UserAssignedStoresSet payload }
			if err := api.do(hq, `mutation($id: ID!, $in: UserAssignedStoresSetInput!) { userAssignedStoresSet(id: $id, input: $in) { errors { code } } }`,
				map[string]any{"id": c.UserCreate.User.ID, "in": map[string]any{"storeIds": ids, "reason": "chbench"}}, &a); err != nil {
				return nil, nil, fmt.Errorf("userAssignedStoresSet: %w", err)
			}
			if err := payloadErr("userAssignedStoresSet", a.UserAssignedStoresSet.Errors); err != nil {
				return nil, nil, err
			}
		}
		if tokens[i], err = api.login(phone, password, "SALESMAN"); err != nil {
			return nil, nil, err
		}
	}
	fmt.Fprintf(out, "visit setup: %d salesmen, %d stores\n", clients, len(stores))
	return tokens, stores, nil
}

// runVisits drives the cycle for d and returns presign+check-in samples.
func runVisits(api *client, tokens []string, stores []visitStore, d time.Duration) result {
	base := strings.TrimSuffix(api.url, "/graphql")
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var res result
	var presign, checkin []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for i, token := range tokens {
		wg.Go(func() {
			var mine result
			var myP, myC []time.Duration
			for n := 0; ctx.Err() == nil; n++ {
				p, c, code := visitCycle(api, base, token, stores[(i+n)%len(stores)], fmt.Sprintf("%d-%d-%d", start.UnixNano(), i, n))
				if code != "" {
					mine.addError(code, 1)
					continue
				}
				mine.latencies = append(mine.latencies, p+c)
				myP, myC = append(myP, p), append(myC, c)
			}
			mu.Lock()
			res.merge(&mine)
			presign, checkin = append(presign, myP...), append(checkin, myC...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.requests = len(res.latencies)
	slices.Sort(res.latencies)
	slices.Sort(presign)
	slices.Sort(checkin)
	res.note = fmt.Sprintf("visit: presign p50 %v p99 %v; check-in p50 %v p99 %v (upload and check-out not timed)",
		pct(presign, 0.5), pct(presign, 0.99), pct(checkin, 0.5), pct(checkin, 0.99))
	return res
}

// visitCycle is one visit; it returns the presign and check-in latencies or an error code.
func visitCycle(api *client, base, token string, s visitStore, key string) (time.Duration, time.Duration, string) {
	t := time.Now()
	var u struct {
		VisitPhotoUploadCreate struct {
			Upload *struct {
				Key, URL string
				Fields   []struct{ Name, Value string }
			}
		}
	}
	if err := api.do(token, `mutation { visitPhotoUploadCreate(input: {contentType: "image/png"}) { upload { key url fields { name value } } } }`, nil, &u); err != nil || u.VisitPhotoUploadCreate.Upload == nil {
		return 0, 0, "PRESIGN"
	}
	p := time.Since(t)
	up := u.VisitPhotoUploadCreate.Upload
	url := up.URL
	if strings.HasPrefix(url, "/") {
		url = base + url
	}
	if err := postForm(api.http, url, up.Fields, photo(key)); err != nil {
		return 0, 0, "UPLOAD"
	}
	t = time.Now()
	var c struct {
		VisitCheckIn struct {
			Visit  *struct{ ID string }
			Errors []struct{ Code string }
		}
	}
	in := map[string]any{"storeId": s.ID, "position": map[string]any{"lat": s.Geo.Latitude, "lng": s.Geo.Longitude, "accuracyMeters": 10},
		"photoKey": up.Key, "capturedAt": time.Now().UTC().Format(time.RFC3339), "idempotencyKey": key}
	if err := api.do(token, `mutation($in: VisitCheckInInput!) { visitCheckIn(input: $in) { visit { id } errors { code } } }`, map[string]any{"in": in}, &c); err != nil {
		return 0, 0, "CHECK_IN"
	}
	if len(c.VisitCheckIn.Errors) > 0 {
		return 0, 0, c.VisitCheckIn.Errors[0].Code
	}
	ci := time.Since(t)
	if err := api.do(token, `mutation($id: ID!) { visitCheckOut(id: $id) { errors { code } } }`, map[string]any{"id": c.VisitCheckIn.Visit.ID}, nil); err != nil {
		return 0, 0, "CHECK_OUT"
	}
	return p, ci, ""
}

// photo is a small PNG whose bytes differ per key.
func photo(key string) []byte {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	binary.LittleEndian.PutUint64(img.Pix, uint64(time.Now().UnixNano()))
	copy(img.Pix[8:], key)
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func postForm(hc *http.Client, url string, fields []struct{ Name, Value string }, file []byte) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	ct := "image/png"
	for _, f := range fields {
		_ = mw.WriteField(f.Name, f.Value)
		if f.Name == "Content-Type" {
			ct = f.Value
		}
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name="file"; filename="p.png"`}
	h["Content-Type"] = []string{ct}
	w, _ := mw.CreatePart(h)
	_, _ = w.Write(file)
	_ = mw.Close()
	resp, err := hc.Post(url, mw.FormDataContentType(), &buf)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload: HTTP %d", resp.StatusCode)
	}
	return nil
}
