// One create-add-get-delete against a live server, then a get that must fail with NOT_FOUND.
//
//   median-consumer HOST:PORT
//
// Prints `count=4 median=2.5` and `deleted: NOT_FOUND`; exits 1 with the error on stderr on any
// other outcome.
#include <median/client.h>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: median-consumer HOST:PORT\n";
    return 2;
  }
  try {
    median::ClientOptions options;
    options.target = argv[1];
    median::Client client(options);

    const std::string session = client.CreateSession();  // an id the library chooses
    client.AddNumbers(session, {3.0, 1.0, 2.0, 10.0});
    const median::MedianResult result = client.GetMedian(session);
    std::cout << "count=" << result.number_count << " median=" << result.median << "\n";
    client.DeleteSession(session);

    try {
      client.GetMedian(session);
    } catch (const median::Error& error) {
      if (error.code() != grpc::StatusCode::NOT_FOUND) throw;
      std::cout << "deleted: " << error.code_name() << "\n";
      return 0;
    }
    std::cerr << "error: GetMedian after DeleteSession succeeded\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  }
}
