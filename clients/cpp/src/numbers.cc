// Reading tokens as doubles and printing doubles in their shortest round-trip form.
#include "numbers.h"

#include <charconv>
#include <cstdlib>
#include <limits>

namespace median_client {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether `token` matches ^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$ in full.
// Checked by hand so that nothing the C library would also accept (hex, "inf", "nan", a
// locale's separators) slips through.
bool IsDecimal(std::string_view token) {
  std::size_t i = 0;
  const std::size_t n = token.size();
  auto skip_digits = [&] {
    const std::size_t start = i;
    while (i < n && IsDigit(token[i])) ++i;
    return i - start;
  };

  if (i < n && (token[i] == '+' || token[i] == '-')) ++i;
  const std::size_t integral_digits = skip_digits();
  std::size_t fraction_digits = 0;
  if (i < n && token[i] == '.') {
    ++i;
    fraction_digits = skip_digits();
  }
  if (integral_digits == 0 && fraction_digits == 0) return false;
  if (i < n && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    if (i < n && (token[i] == '+' || token[i] == '-')) ++i;
    if (skip_digits() == 0) return false;
  }
  return i == n;
}

}  // namespace

std::optional<double> ParseNumber(std::string_view token) {
  if (token == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (token == "Infinity") return std::numeric_limits<double>::infinity();
  if (token == "-Infinity") return -std::numeric_limits<double>::infinity();
  if (!IsDecimal(token)) return std::nullopt;
  // strtod rather than std::from_chars: for a token beyond the double range from_chars reports
  // an error and gives no value, while strtod rounds correctly to infinity or to a subnormal
  // (or zero), as every other client's parser does. The program never changes the C locale, so
  // the decimal point is '.'.
  const std::string text(token);
  return std::strtod(text.c_str(), nullptr);
}

std::string FormatNumber(double value) {
  // Without a format, to_chars writes the shortest form that reads back to the same double.
  char buffer[std::numeric_limits<double>::max_digits10 + 16];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  (void)error;  // The buffer is large enough for every double.
  return std::string(buffer, end);
}

}  // namespace median_client
