package model

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrDecimal is the error of a malformed Decimal; the client sent it.
var ErrDecimal = errors.New("malformed decimal")

// Decimal is an amount in minor units (fen) that travels as a decimal string
// such as "1999.00". Parsing is exact: no float ever holds money.
type Decimal int64

// MarshalGQL writes the amount with two decimals.
func (d Decimal) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(FormatMinor(int64(d))))
}

// UnmarshalGQL reads "12", "12.3" or "12.34" (a leading "-" allowed; at most 2 decimals).
func (d *Decimal) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%w: want a string such as \"1999.00\"", ErrDecimal)
	}
	n, err := ParseMinor(s)
	if err != nil {
		return err
	}
	*d = Decimal(n)
	return nil
}

// FormatMinor renders minor units as a decimal string with two places.
func FormatMinor(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign, u = "-", uint64(-n)
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// maxMajor keeps parsed amounts far from int64 overflow (¥10^15).
const maxMajor = 1_000_000_000_000_000

// ParseMinor parses a decimal string into minor units, exactly.
func ParseMinor(s string) (int64, error) {
	bad := fmt.Errorf("%w: %q has not the form 1999.00", ErrDecimal, s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || (hasDot && frac == "") || len(whole) > 16 {
		return 0, bad
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, bad
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w >= maxMajor {
		return 0, bad
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	n := w*100 + f
	if neg {
		n = -n
	}
	return n, nil
}

// Money is an amount with its currency.
type Money struct {
	Amount   Decimal
	Currency string
}
