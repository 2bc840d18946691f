// Client::NewId: session and writer ids, 128 bits from the operating system in URL-safe base64.
#include <absl/strings/escaping.h>

#include <array>
#include <climits>
#include <cstdint>
#include <random>

#include "median/client.h"

namespace median {

std::string Client::NewId() {
  // Named explicitly: libstdc++'s default device may prefer a CPU instruction over the kernel.
  std::random_device random("/dev/urandom");
  static_assert(sizeof(std::random_device::result_type) * CHAR_BIT >= 32);
  std::array<char, 16> bytes{};
  for (std::size_t i = 0; i < bytes.size(); i += 4) {
    const std::uint32_t word = random();
    for (std::size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<char>(word >> (8 * j));
  }
  // base64url without padding (RFC 4648 §5): 22 characters of [A-Za-z0-9_-].
  return absl::WebSafeBase64Escape(absl::string_view(bytes.data(), bytes.size()));
}

}  // namespace median
