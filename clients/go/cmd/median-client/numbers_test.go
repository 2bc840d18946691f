package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseNumbersAcceptsEveryDecimalForm(t *testing.T) {
	input := "1e-07 1.0E-7 0.0000001 2.5 .5 5. +3 1E+2 -4e0 7 -0 1.7976931348623157e+308 5e-324 1e400"
	want := []float64{1e-7, 1e-7, 1e-7, 2.5, 0.5, 5, 3, 100, -4, 7, math.Copysign(0, -1),
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1)}
	got, err := parseNumbers(input)
	if err != nil {
		t.Fatalf("parseNumbers(%q) failed: %v", input, err)
	}
	if len(got) != len(want) {
		t.Fatalf("parseNumbers(%q) = %v, want %v", input, got, want)
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Errorf("token %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseNumbersPassesSpecialValuesThrough(t *testing.T) {
	got, err := parseNumbers("NaN\tInfinity\n-Infinity")
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(got[0]) || !math.IsInf(got[1], 1) || !math.IsInf(got[2], -1) {
		t.Errorf("got %v, want [NaN +Inf -Inf]", got)
	}
}

func TestParseNumbersNamesTheFirstBadToken(t *testing.T) {
	for _, token := range []string{"abc", "0x10", "inf", "nan", "1,5", "+Infinity", "1_000", "0x1p-2", "e5", "."} {
		_, err := parseNumbers("1 " + token + " 2")
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(token)) {
			t.Errorf("parseNumbers with %q: error %v, want one naming the token", token, err)
		}
	}
}
