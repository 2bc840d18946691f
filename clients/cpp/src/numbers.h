// Numbers as the command line reads and prints them.
#ifndef MEDIAN_CLIENT_NUMBERS_H_
#define MEDIAN_CLIENT_NUMBERS_H_

#include <optional>
#include <string>
#include <string_view>

namespace median_client {

// The double a token of standard input stands for, or nullopt when the token is not a number.
//
// A number is `NaN`, `Infinity`, `-Infinity` (sent as they are, for the server to refuse), or a
// decimal matching ^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$, read as the correctly
// rounded double. Hexadecimal, `inf`, `nan` and the like are not numbers.
std::optional<double> ParseNumber(std::string_view token);

// The shortest decimal that parses back to the same double; -0.0 keeps its sign ("-0").
std::string FormatNumber(double value);

}  // namespace median_client

#endif  // MEDIAN_CLIENT_NUMBERS_H_
