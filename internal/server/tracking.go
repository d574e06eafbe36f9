package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"channelhub/internal/shipment"
)

// Carrier endpoint limits.
const (
	carrierMaxBody = 64 << 10
	carrierMaxSkew = 5 * time.Minute
)

// carrierTracking is POST /carrier/tracking: a logistics provider's status
// update, signed with CHANNELHUB_CARRIER_SECRET as hex HMAC-SHA256 over
// "<X-Channelhub-Timestamp>.<raw body>". 404 DISABLED without a secret.
func (s *Server) carrierTracking(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret := s.Config.CarrierSecret
		if secret == "" {
			carrierReply(w, http.StatusNotFound, "DISABLED", "carrier tracking is not enabled")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, carrierMaxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				carrierReply(w, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "the body is larger than 64 KiB")
				return
			}
			carrierReply(w, http.StatusBadRequest, "MALFORMED_BODY", "the body could not be read")
			return
		}
		ts, err := strconv.ParseInt(r.Header.Get("X-Channelhub-Timestamp"), 10, 64)
		if err != nil {
			carrierReply(w, http.StatusUnauthorized, "BAD_TIMESTAMP", "X-Channelhub-Timestamp must be unix seconds")
			return
		}
		if d := time.Since(time.Unix(ts, 0)); d > carrierMaxSkew || d < -carrierMaxSkew {
			carrierReply(w, http.StatusUnauthorized, "STALE_TIMESTAMP", "the timestamp is more than 5 minutes off")
			return
		}
		if !validCarrierSignature(secret, r.Header.Get("X-Channelhub-Timestamp"), body, r.Header.Get("X-Channelhub-Signature")) {
			carrierReply(w, http.StatusUnauthorized, "BAD_SIGNATURE", "the signature does not match")
			return
		}
		var in struct {
			EventID        string    `json:"eventId"`
			TrackingNumber string    `json:"trackingNumber"`
			Status         string    `json:"status"`
			At             time.Time `json:"at"`
			Location       string    `json:"location"`
			Note           string    `json:"note"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			carrierReply(w, http.StatusBadRequest, "MALFORMED_BODY", "the body is not a valid tracking update")
			return
		}
		res, err := s.Shipments.Track(r.Context(), shipment.TrackingUpdate{EventID: in.EventID, TrackingNumber: in.TrackingNumber,
			Status: shipment.TrackingStatus(in.Status), At: in.At, Location: in.Location, Note: in.Note})
		switch {
		case errors.Is(err, shipment.ErrUnknownTrackingStatus):
			carrierReply(w, http.StatusBadRequest, "UNKNOWN_STATUS", "status is not IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED or EXCEPTION")
		case errors.Is(err, shipment.ErrInvalidInput):
			carrierReply(w, http.StatusBadRequest, "INVALID_INPUT", "eventId, trackingNumber and at are required; text fields have limits")
		case errors.Is(err, shipment.ErrUnknownTracking):
			carrierReply(w, http.StatusNotFound, "UNKNOWN_TRACKING_NUMBER", "no shipment has this tracking number")
		case err != nil:
			log.ErrorContext(r.Context(), "carrier tracking", "err", err)
			carrierReply(w, http.StatusInternalServerError, "INTERNAL", "internal error")
		default:
			s.dispatcher.Wake()
			result := "accepted"
			if res.Duplicate {
				result = "duplicate"
			}
			writeCarrierJSON(w, http.StatusOK, map[string]any{"result": result, "shipmentStatus": res.Status})
		}
	}
}

func validCarrierSignature(secret, ts string, body []byte, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func carrierReply(w http.ResponseWriter, status int, code, msg string) {
	writeCarrierJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeCarrierJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
