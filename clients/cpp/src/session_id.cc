// Random session ids: 128 bits from the operating system, in URL-safe base64.
#include "session_id.h"

#include <array>
#include <climits>
#include <cstdint>
#include <random>

namespace median_client {
namespace {

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

template <std::size_t N>
std::string Base64UrlWithoutPadding(const std::array<std::uint8_t, N>& bytes) {
  std::string encoded;
  encoded.reserve((N * 4 + 2) / 3);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (std::uint8_t byte : bytes) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      encoded.push_back(kBase64UrlAlphabet[(bits >> bit_count) & 0x3F]);
    }
  }
  if (bit_count > 0) {
    encoded.push_back(kBase64UrlAlphabet[(bits << (6 - bit_count)) & 0x3F]);
  }
  return encoded;
}

}  // namespace

std::string NewSessionId() {
  // Named explicitly: libstdc++'s default device may prefer a CPU instruction over the kernel.
  std::random_device random("/dev/urandom");
  static_assert(sizeof(std::random_device::result_type) * CHAR_BIT >= 32);
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const std::uint32_t word = random();
    for (std::size_t j = 0; j < 4; ++j) {
      bytes[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
    }
  }
  return Base64UrlWithoutPadding(bytes);
}

}  // namespace median_client
