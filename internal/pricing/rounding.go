package pricing

import (
	"math"
	"math/bits"
	"slices"
)

// BPDenominator is 100 % in basis points.
const BPDenominator int64 = 10_000

// mulDiv returns a*b/c as quotient and remainder, using a 128-bit product so
// that a*b may exceed int64. It requires a, b >= 0, c > 0 and a quotient that
// fits in int64 (every caller has b <= c or a <= c).
func mulDiv(a, b, c int64) (q, r int64) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	uq, ur := bits.Div64(hi, lo, uint64(c))
	return int64(uq), int64(ur)
}

// mulDivHalfUp is round-half-up(a*b/c) for a, b >= 0, c > 0.
func mulDivHalfUp(a, b, c int64) int64 {
	q, r := mulDiv(a, b, c)
	if r >= c-r { // r/c >= 1/2
		q++
	}
	return q
}

// ApplyBP is round-half-up(amount * bp / 10000) in integers: the part of a
// money amount (minor units) that bp basis points make. amount must be >= 0
// and bp in 0..10000 (values outside are clamped), so the result is in
// 0..amount.
func ApplyBP(amount, bp int64) int64 {
	if amount <= 0 || bp <= 0 {
		return 0
	}
	if bp >= BPDenominator {
		return amount
	}
	return mulDivHalfUp(amount, bp, BPDenominator)
}

// Share is round-half-up(amount * part / whole): what part of whole units
// of a line worth amount is worth, for amount >= 0 and 0 <= part <= whole
// (outside that it is 0 or amount). Shares of 0..k, 0..n telescope: taking
// Share(a, k+m, n) - Share(a, k, n) for each next m units, the pieces sum
// to amount exactly once all n are taken.
func Share(amount, part, whole int64) int64 {
	if amount <= 0 || part <= 0 || whole <= 0 {
		return 0
	}
	if part >= whole {
		return amount
	}
	return mulDivHalfUp(amount, part, whole)
}

// Allocate splits total over weights proportionally with the largest-remainder
// method: each share is floor(total*w/W), and the units left over go one each
// to the largest remainders (ties to the lower index). The shares sum exactly
// to total and no share exceeds its weight. Negative weights count as 0 and
// total is clamped to 0..Σweights.
func Allocate(total int64, weights []int64) []int64 {
	out := make([]int64, len(weights))
	allocateInto(out, total, weights)
	return out
}

// allocateInto is Allocate writing into dst (len(dst) == len(weights)).
func allocateInto(dst []int64, total int64, weights []int64) {
	var sum int64
	for _, w := range weights {
		if w > 0 {
			sum = satAdd(sum, w)
		}
	}
	for i := range dst {
		dst[i] = 0
	}
	if total <= 0 || sum <= 0 {
		return
	}
	if total >= sum {
		for i, w := range weights {
			if w > 0 {
				dst[i] = w
			}
		}
		return
	}
	left := total
	nrem := 0
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		q, r := mulDiv(total, w, sum)
		dst[i] = q
		left -= q
		if r > 0 {
			nrem++
		}
	}
	if left == 0 {
		return
	}
	// left < nrem: hand one unit each to the largest remainders.
	type rem struct {
		i int
		r int64
	}
	rems := make([]rem, 0, nrem)
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		if _, r := mulDiv(total, w, sum); r > 0 {
			rems = append(rems, rem{i, r})
		}
	}
	slices.SortFunc(rems, func(a, b rem) int {
		switch {
		case a.r > b.r:
			return -1
		case a.r < b.r:
			return 1
		}
		return a.i - b.i
	})
	for k := int64(0); k < left && int(k) < len(rems); k++ {
		dst[rems[k].i]++
	}
}

// satAdd adds two non-negative values, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// satMul multiplies two non-negative values, saturating at math.MaxInt64.
func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
