// The session ids the client chooses itself.
#ifndef MEDIAN_CLIENT_SESSION_ID_H_
#define MEDIAN_CLIENT_SESSION_ID_H_

#include <string>

namespace median_client {

// A fresh, unguessable session id: 16 bytes from the operating system's secure random source,
// base64url-encoded without padding (22 characters of [A-Za-z0-9_-]).
std::string NewSessionId();

}  // namespace median_client

#endif  // MEDIAN_CLIENT_SESSION_ID_H_
