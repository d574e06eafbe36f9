package serial

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"channelhub/internal/field"
)

// MaxPerDocument caps the serials of one document (a stock-in, a shipment, a receipt).
const MaxPerDocument = 20_000

// numberRE is a serial or IMEI after trimming and upper-casing: 6..32 of A-Z, 0-9 and '-'.
var numberRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{5,31}$`)

// Range is the serials From..To inclusive: the same prefix and width, the numeric tails counting up.
type Range struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Normalize trims and upper-cases a scanned number and checks its form.
func Normalize(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	return s, numberRE.MatchString(s)
}

// Scan is what a person scanned, pasted or typed as ranges, expanded: each
// number once in first-seen order, and the numbers seen more than once.
type Scan struct {
	Numbers    []string
	Duplicates []string
}

// Expand checks and expands numbers and ranges into one list of at most max
// numbers. listField and rangeField name the inputs for error paths.
func Expand(numbers []string, ranges []Range, max int, listField, rangeField string) (*Scan, error) {
	if len(numbers) > max {
		return nil, field.Err(ErrTooMany, listField)
	}
	out := &Scan{Numbers: make([]string, 0, len(numbers))}
	seen := make(map[string]int, len(numbers))
	add := func(n string) {
		seen[n]++
		switch seen[n] {
		case 1:
			out.Numbers = append(out.Numbers, n)
		case 2:
			out.Duplicates = append(out.Duplicates, n)
		}
	}
	for i, raw := range numbers {
		n, ok := Normalize(raw)
		if !ok {
			return nil, field.Err(ErrMalformed, listField, fmt.Sprint(i))
		}
		add(n)
	}
	total := len(numbers)
	for i, r := range ranges {
		from, okF := Normalize(r.From)
		to, okT := Normalize(r.To)
		if !okF || !okT {
			return nil, field.Err(ErrMalformed, rangeField, fmt.Sprint(i))
		}
		prefix, a, b, ok := splitRange(from, to)
		if !ok {
			return nil, field.Err(ErrRangeInvalid, rangeField, fmt.Sprint(i))
		}
		width := len(from) - len(prefix)
		if b-a+1 > uint64(max-total) {
			return nil, field.Err(ErrTooMany, rangeField, fmt.Sprint(i))
		}
		total += int(b - a + 1)
		for v := a; v <= b; v++ {
			add(fmt.Sprintf("%s%0*d", prefix, width, v))
		}
	}
	return out, nil
}

// splitRange finds the common prefix of from and to and their numeric tails;
// both must have the same width and a tail of up to 18 digits with from <= to.
func splitRange(from, to string) (string, uint64, uint64, bool) {
	if len(from) != len(to) {
		return "", 0, 0, false
	}
	i := len(from)
	for i > 0 && from[i-1] >= '0' && from[i-1] <= '9' && to[i-1] >= '0' && to[i-1] <= '9' {
		i--
	}
	if i == len(from) || len(from)-i > 18 || from[:i] != to[:i] {
		return "", 0, 0, false
	}
	a, err1 := strconv.ParseUint(from[i:], 10, 64)
	b, err2 := strconv.ParseUint(to[i:], 10, 64)
	if err1 != nil || err2 != nil || a > b {
		return "", 0, 0, false
	}
	return from[:i], a, b, true
}
