package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// decimal is the only number syntax the client accepts. strconv.ParseFloat alone would also
// take hexadecimal floats, "inf", "nan" and underscores, which the contract refuses.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// parseNumbers splits input on any whitespace and parses every token to the correctly rounded
// double. NaN, Infinity and -Infinity are passed through so that the server's validation is
// exercised. It returns an error naming the first token that is not a number.
func parseNumbers(input string) ([]float64, error) {
	tokens := strings.Fields(input)
	numbers := make([]float64, 0, len(tokens))
	for _, token := range tokens {
		switch token {
		case "NaN":
			numbers = append(numbers, math.NaN())
		case "Infinity":
			numbers = append(numbers, math.Inf(1))
		case "-Infinity":
			numbers = append(numbers, math.Inf(-1))
		default:
			if !decimal.MatchString(token) {
				return nil, fmt.Errorf("%q is not a number", token)
			}
			// Out of range is not an error here: ParseFloat then returns ±Inf, which is the
			// correctly rounded value, and the server refuses it like any other infinity.
			number, err := strconv.ParseFloat(token, 64)
			if err != nil && !isRangeError(err) {
				return nil, fmt.Errorf("%q is not a number: %v", token, err)
			}
			numbers = append(numbers, number)
		}
	}
	return numbers, nil
}

func isRangeError(err error) bool {
	numError, ok := err.(*strconv.NumError)
	return ok && numError.Err == strconv.ErrRange
}
