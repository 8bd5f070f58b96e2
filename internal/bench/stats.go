package bench

import (
	"fmt"
	"slices"
	"time"
)

// Series is repeated measurements of one quantity.
type Series []float64

func (s Series) sorted() []float64 { c := slices.Clone(s); slices.Sort(c); return c }

// Min, Median and Max of the series (0 when empty).
func (s Series) Min() float64 {
	if len(s) == 0 {
		return 0
	}
	return s.sorted()[0]
}

func (s Series) Max() float64 {
	if len(s) == 0 {
		return 0
	}
	return s.sorted()[len(s)-1]
}

func (s Series) Median() float64 { return s.Quantile(0.5) }

// Quantile returns the q-quantile (nearest rank).
func (s Series) Quantile(q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	c := s.sorted()
	i := int(q*float64(len(c)-1) + 0.5)
	return c[i]
}

// MMM formats min/median/max.
func (s Series) MMM(format string) string {
	return fmt.Sprintf(format+" / "+format+" / "+format, s.Min(), s.Median(), s.Max())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Ratio formats a/b.
func Ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
