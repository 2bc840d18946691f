// median-client: streams numbers from standard input into a median.v1.MedianService session and
// prints the session's count and median; the command line of CLIENTS.md, on top of median::Client.
//
//   median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
//                 [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
//                 [--retry-for SECONDS]
//
// Exit status: 0 on success; 1 on a gRPC error (`error: CODE: message` on stderr, then one
// `detail: ...` line per google.rpc detail); 2 on a bad command line or a token of standard input
// that is not a number (nothing is sent then).
#include <grpc/support/log.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "median/client.h"
#include "numbers.h"

using median_client::FormatNumber;
using median_client::ParseNumber;

namespace {

constexpr int kExitRpcError = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]\n"
    "                     [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]\n"
    "                     [--retry-for SECONDS]\n"
    "The token may also come from the MEDIAN_TOKEN environment variable.\n";

struct Options {
  median::ClientOptions client;
  std::optional<std::string> session_id;
  bool running = false;
  bool delete_session = false;
};

std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// A failed call as the lines the command line promises on stderr; returns the exit status.
int ReportError(const median::Error& error) {
  std::cout.flush();
  std::cerr << "error: " << error.code_name() << ": " << OneLine(error.message()) << "\n";
  for (const median::FieldViolation& violation : error.field_violations()) {
    std::cerr << "detail: BadRequest " << violation.field << ": "
              << OneLine(violation.description) << "\n";
  }
  for (const median::QuotaViolation& violation : error.quota_violations()) {
    std::cerr << "detail: QuotaFailure " << violation.subject << ": "
              << OneLine(violation.description) << "\n";
  }
  if (const auto& info = error.error_info()) {
    std::cerr << "detail: ErrorInfo " << info->reason << " " << info->domain << "\n";
  }
  std::cerr.flush();
  return kExitRpcError;
}

int UsageError(const std::string& message) {
  std::cerr << "error: " << message << "\n" << kUsage;
  return kExitUsage;
}

std::optional<std::size_t> ParsePositiveInteger(std::string_view text) {
  std::size_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || value == 0) return std::nullopt;
  return value;
}

// Seconds as a non-negative decimal ("30", "0.5").
std::optional<std::chrono::milliseconds> ParseSeconds(std::string_view text) {
  const std::optional<double> seconds = ParseNumber(text);
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0 || *seconds > 1e9) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*seconds * 1000)));
}

// Fills `options` from the command line; returns an exit status when the program must stop.
std::optional<int> ParseOptions(int argc, char** argv, Options* options) {
  bool has_target = false;
  std::optional<std::string> token;
  std::optional<std::string> tls_ca, tls_cert, tls_key;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (flag == "--running") {
      options->running = true;
      continue;
    }
    if (flag == "--delete") {
      options->delete_session = true;
      continue;
    }
    static constexpr std::string_view kValueFlags[] = {
        "--target", "--session", "--batch", "--token", "--tls-ca", "--tls-cert", "--tls-key",
        "--retry-for"};
    if (std::find(std::begin(kValueFlags), std::end(kValueFlags), flag) == std::end(kValueFlags)) {
      return UsageError("unknown flag \"" + std::string(flag) + "\"");
    }
    if (i + 1 == argc) return UsageError(std::string(flag) + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--target") {
      options->client.target = value;
      has_target = !value.empty();
    } else if (flag == "--session") {
      options->session_id = value;
    } else if (flag == "--batch") {
      const std::optional<std::size_t> batch_size = ParsePositiveInteger(value);
      if (!batch_size) return UsageError("--batch needs a positive integer, not \"" + value + "\"");
      options->client.batch_size = *batch_size;
    } else if (flag == "--token") {
      token = value;
    } else if (flag == "--tls-ca") {
      tls_ca = value;
    } else if (flag == "--tls-cert") {
      tls_cert = value;
    } else if (flag == "--tls-key") {
      tls_key = value;
    } else {
      const std::optional<std::chrono::milliseconds> retry_for = ParseSeconds(value);
      if (!retry_for) {
        return UsageError("--retry-for needs a number of seconds >= 0, not \"" + value + "\"");
      }
      options->client.retry_for = *retry_for;
    }
  }
  if (!has_target) return UsageError("--target HOST:PORT is required");
  if (tls_cert.has_value() != tls_key.has_value()) {
    return UsageError("--tls-cert and --tls-key go together: the client certificate and its key");
  }
  if (tls_ca || tls_cert) {
    median::TlsOptions tls;
    tls.ca_file = tls_ca.value_or("");
    tls.cert_file = tls_cert.value_or("");
    tls.key_file = tls_key.value_or("");
    options->client.tls = tls;
  }
  if (!token) {
    if (const char* from_environment = std::getenv("MEDIAN_TOKEN")) token = from_environment;
  }
  options->client.token = token;
  return std::nullopt;
}

// Every number of standard input, or the first token that is not one.
struct Input {
  std::vector<double> numbers;
  std::optional<std::string> bad_token;
};

Input ReadNumbers(std::istream& in) {
  Input input;
  std::string token;
  while (in >> token) {  // Tokens are separated by any whitespace.
    const std::optional<double> number = ParseNumber(token);
    if (!number) {
      input.bad_token = token;
      break;
    }
    input.numbers.push_back(*number);
  }
  return input;
}

void PrintCountAndMedian(std::int64_t count, std::optional<double> median) {
  std::cout << "count=" << count;
  if (median) std::cout << " median=" << FormatNumber(*median);
  std::cout << std::endl;
}

// gRPC writes its own diagnostics to stderr; this client reports every failure itself.
void DiscardGrpcLog(gpr_log_func_args* /*args*/) {}

int Run(const Options& options, const std::vector<double>& numbers) {
  std::optional<median::Client> client;
  try {
    client.emplace(options.client);
  } catch (const std::invalid_argument& error) {
    return UsageError(error.what());
  }
  try {
    std::string session_id;
    if (options.session_id) {
      session_id = *options.session_id;
    } else {
      session_id = client->CreateSession();
      std::cout << "session=" << session_id << std::endl;
    }
    if (options.running) {
      client->RunningMedian(session_id, numbers, [](const median::RunningResult& answer) {
        PrintCountAndMedian(answer.number_count, answer.median);
      });
    } else {
      const median::AddResult added = client->AddNumbers(session_id, numbers);
      if (added.number_count == 0) {
        PrintCountAndMedian(0, std::nullopt);
      } else {
        const median::MedianResult median = client->GetMedian(session_id);
        PrintCountAndMedian(median.number_count, median.median);
      }
    }
    if (options.delete_session) client->DeleteSession(session_id);
  } catch (const median::Error& error) {
    return ReportError(error);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::optional<int> exit_status = ParseOptions(argc, argv, &options)) {
    return *exit_status;
  }
  // All of standard input is read and checked before anything is sent.
  const Input input = ReadNumbers(std::cin);
  if (input.bad_token) {
    std::cerr << "error: \"" << *input.bad_token << "\" is not a number\n";
    return kExitUsage;
  }
  // gRPC's own log stays on when asked for (GRPC_VERBOSITY or GRPC_TRACE), for debugging.
  if (!std::getenv("GRPC_VERBOSITY") && !std::getenv("GRPC_TRACE")) {
    gpr_set_log_function(DiscardGrpcLog);
  }
  return Run(options, input.numbers);
}
