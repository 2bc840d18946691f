// Unit tests of the library's pieces that need no server: ids, error details, batching, options,
// and the command line's number format.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "median/client.h"
#include "numbers.h"

namespace {

std::vector<std::vector<double>> AllBatches(const median::Client::BatchSource& source) {
  std::vector<std::vector<double>> batches;
  std::vector<double> batch;
  while (source(&batch)) batches.push_back(batch);
  return batches;
}

TEST(NewId, Is22UrlSafeBase64CharactersAndFresh) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = median::Client::NewId();
    ASSERT_EQ(id.size(), 22u) << id;
    for (char c : id) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << id;
    }
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Error, DecodesBadRequestQuotaFailureAndErrorInfo) {
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  rich.set_message("too many");
  google::rpc::BadRequest bad_request;
  auto* field = bad_request.add_field_violations();
  field->set_field("numbers[3]");
  field->set_description("NaN is not a number");
  rich.add_details()->PackFrom(bad_request);
  google::rpc::QuotaFailure quota;
  auto* violation = quota.add_violations();
  violation->set_subject("--max-session-numbers");
  violation->set_description("limit 5");
  rich.add_details()->PackFrom(quota);
  google::rpc::ErrorInfo info;
  info.set_reason("MAX_SESSION_NUMBERS");
  info.set_domain("median.v1");
  (*info.mutable_metadata())["limit"] = "5";
  rich.add_details()->PackFrom(info);

  const median::Error error(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many",
                                         rich.SerializeAsString()));
  EXPECT_EQ(error.code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(error.code_name(), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(error.message(), "too many");
  EXPECT_STREQ(error.what(), "RESOURCE_EXHAUSTED: too many");
  ASSERT_EQ(error.field_violations().size(), 1u);
  EXPECT_EQ(error.field_violations()[0].field, "numbers[3]");
  EXPECT_EQ(error.field_violations()[0].description, "NaN is not a number");
  ASSERT_EQ(error.quota_violations().size(), 1u);
  EXPECT_EQ(error.quota_violations()[0].subject, "--max-session-numbers");
  EXPECT_EQ(error.quota_violations()[0].description, "limit 5");
  ASSERT_TRUE(error.error_info().has_value());
  EXPECT_EQ(error.error_info()->reason, "MAX_SESSION_NUMBERS");
  EXPECT_EQ(error.error_info()->domain, "median.v1");
  EXPECT_EQ(error.error_info()->metadata.at("limit"), "5");
  EXPECT_FALSE(error.retryable());
}

TEST(Error, WithoutDetailsHasNone) {
  const median::Error error(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  EXPECT_EQ(error.code_name(), "UNAVAILABLE");
  EXPECT_TRUE(error.field_violations().empty());
  EXPECT_TRUE(error.quota_violations().empty());
  EXPECT_FALSE(error.error_info().has_value());
  EXPECT_TRUE(error.retryable());
}

TEST(Retryable, ResumesAfterTheTransportsOwnStatusesNotAfterTheServers) {
  // What gRPC C++'s HTTP/2 transport makes of RST_STREAM INTERNAL_ERROR (Envoy resetting a
  // stream whose shard died): INTERNAL with this message and no details.
  const grpc::Status reset(grpc::StatusCode::INTERNAL, "Received RST_STREAM with error code 2");
  EXPECT_TRUE(median::Retryable(reset));
  EXPECT_TRUE(median::Error(reset).retryable());
  // An INTERNAL the server sent (its generic message, or with google.rpc details) is final.
  const grpc::Status server(grpc::StatusCode::INTERNAL, "internal error");
  EXPECT_FALSE(median::Retryable(server));
  EXPECT_FALSE(median::Error(server).retryable());
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(grpc::StatusCode::INTERNAL));
  rich.set_message("Received RST_STREAM with error code 2");
  EXPECT_FALSE(median::Retryable(grpc::Status(grpc::StatusCode::INTERNAL,
                                              "Received RST_STREAM with error code 2",
                                              rich.SerializeAsString())));
  // Only INTERNAL_ERROR (2) and only as INTERNAL: other reset codes and other statuses are not.
  EXPECT_FALSE(median::Retryable(
      grpc::Status(grpc::StatusCode::INTERNAL, "Received RST_STREAM with error code 1")));
  EXPECT_FALSE(median::Retryable(
      grpc::Status(grpc::StatusCode::UNKNOWN, "Received RST_STREAM with error code 2")));
  // gRPC core's UNKNOWN for a connection that closed under the call is resumed; the same words
  // with details, or another UNKNOWN, came from the server.
  EXPECT_TRUE(median::Retryable(grpc::Status(grpc::StatusCode::UNKNOWN, "Stream removed")));
  rich.set_code(static_cast<int>(grpc::StatusCode::UNKNOWN));
  rich.set_message("Stream removed");
  EXPECT_FALSE(median::Retryable(
      grpc::Status(grpc::StatusCode::UNKNOWN, "Stream removed", rich.SerializeAsString())));
  EXPECT_FALSE(median::Retryable(grpc::Status(grpc::StatusCode::UNKNOWN, "unexpected error")));
  EXPECT_TRUE(median::Retryable(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")));
  EXPECT_FALSE(median::Retryable(grpc::Status(grpc::StatusCode::NOT_FOUND, "no session")));
}

TEST(Error, IgnoresDetailsThatAreNotAStatus) {
  const median::Error error(
      grpc::Status(grpc::StatusCode::INTERNAL, "oops", std::string("\xff\xff\xff", 3)));
  EXPECT_EQ(error.code(), grpc::StatusCode::INTERNAL);
  EXPECT_TRUE(error.field_violations().empty());
}

TEST(Batches, CutsNumbersInOrderIntoBatchesOfAtMostN) {
  const std::vector<double> numbers{1, 2, 3, 4, 5};
  const auto batches = AllBatches(median::Client::Batches(numbers.begin(), numbers.end(), 2));
  EXPECT_EQ(batches, (std::vector<std::vector<double>>{{1, 2}, {3, 4}, {5}}));
}

TEST(Batches, ExactMultipleHasNoTrailingEmptyBatch) {
  const std::vector<int> numbers{1, 2, 3, 4};
  const auto batches = AllBatches(median::Client::Batches(numbers.begin(), numbers.end(), 2));
  EXPECT_EQ(batches, (std::vector<std::vector<double>>{{1, 2}, {3, 4}}));
}

TEST(Batches, NoNumbersMakeOneEmptyBatch) {
  const std::vector<double> numbers;
  const auto batches = AllBatches(median::Client::Batches(numbers.begin(), numbers.end(), 3));
  EXPECT_EQ(batches, (std::vector<std::vector<double>>{{}}));
}

median::ClientOptions Target() {
  median::ClientOptions options;
  options.target = "127.0.0.1:1";
  return options;
}

TEST(ClientOptions, RefusesATokenWithASpaceOrNewline) {
  median::ClientOptions options = Target();
  options.token = "abc def";
  EXPECT_THROW(median::Client{options}, std::invalid_argument);
  options.token = "abc\n";
  EXPECT_THROW(median::Client{options}, std::invalid_argument);
  options.token = "abc";
  EXPECT_NO_THROW(median::Client{options});
}

TEST(ClientOptions, RefusesACertificateWithoutItsKey) {
  median::ClientOptions options = Target();
  options.tls = median::TlsOptions{"", "client.pem", ""};
  EXPECT_THROW(median::Client{options}, std::invalid_argument);
}

TEST(ClientOptions, RefusesAnUnreadableCaFile) {
  median::ClientOptions options = Target();
  options.tls = median::TlsOptions{"/nonexistent/ca.pem", "", ""};
  try {
    median::Client client(options);
    FAIL() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/ca.pem"), std::string::npos);
  }
}

TEST(ClientOptions, RefusesNoTargetAndBatchSizeZero) {
  median::ClientOptions options;
  EXPECT_THROW(median::Client{options}, std::invalid_argument);
  options = Target();
  options.batch_size = 0;
  EXPECT_THROW(median::Client{options}, std::invalid_argument);
}

TEST(Numbers, ParsesDecimalsAndTheThreeSpecialTokensOnly) {
  EXPECT_EQ(median_client::ParseNumber("2.5"), 2.5);
  EXPECT_EQ(median_client::ParseNumber("-1e3"), -1000.0);
  EXPECT_TRUE(std::isnan(*median_client::ParseNumber("NaN")));
  EXPECT_EQ(median_client::ParseNumber("-Infinity"), -std::numeric_limits<double>::infinity());
  EXPECT_FALSE(median_client::ParseNumber("inf").has_value());
  EXPECT_FALSE(median_client::ParseNumber("0x10").has_value());
  EXPECT_FALSE(median_client::ParseNumber("1,5").has_value());
}

TEST(Numbers, FormatsTheShortestRoundTripForm) {
  EXPECT_EQ(median_client::FormatNumber(2.5), "2.5");
  EXPECT_EQ(median_client::FormatNumber(0.1), "0.1");
  EXPECT_EQ(median_client::FormatNumber(-0.0), "-0");
}

}  // namespace
