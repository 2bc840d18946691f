// Package median is the Go client library of the running-median service
// (median.v1.MedianService, protos/median/v1/median.proto).
//
// A [Client] holds one gRPC channel. Every call takes a [context.Context]; unary calls get a
// default deadline (10 s, [WithCallTimeout]) when the context has none. Every call that names a
// session also carries it in the `median-session-id` request metadata, so that a proxy hashing
// on that header routes all calls of one session to the same server.
//
// # Connecting
//
// Without options the channel is plaintext. [WithTLS] trusts the system's roots, [WithCAFile]
// or [WithCA] a CA of your own, [WithClientCertificateFiles] adds a client certificate (mutual
// TLS), and [WithToken] sends `authorization: Bearer <token>` on every call as gRPC per-RPC
// credentials.
//
// # Exactly-once ingest
//
// [Client.Add], [Client.AddSeq], [Client.AddChan], [Client.RunningMedians] and
// [Client.RunningMediansFunc] send numbers in requests of at most [WithBatchSize] numbers. Each
// call is one writer: it makes a writer id (128 random bits, URL-safe base64) and gives request
// n the request id "<writer>:<n>". After a retryable failure (the status UNAVAILABLE, which is
// what grpc-go reports for a refused connection or a transport broken under the call, or
// CANCELLED while the call's own context is live, which is a stream reset by the server or a
// proxy, or the INTERNAL grpc-go makes for a stream reset with RST_STREAM INTERNAL_ERROR, which
// is how Envoy ends a stream whose shard died; never an INTERNAL the server sent) the library waits with exponential backoff and jitter (about 100 ms doubling up to about 2 s),
// opens a new stream for the same session and resends, in order and with the same request ids,
// exactly the requests whose answers it has not received; the server answers a request id it
// has already applied without applying it again. A RunningMedian answer acknowledges its
// request; an AddNumbers stream acknowledges its requests only with its final answer (so
// [Client.Add] ends a stream and starts the next one after at most 1,024 requests or 65,536
// numbers, to bound what it keeps for resending). Resuming stops [WithRetryFor] after the first failure that was
// not followed by an acknowledgement (default 30 s), or at the context's deadline, whichever
// comes first; the call then returns the last error ([codes.Unavailable] or
// [codes.DeadlineExceeded]). A refused request (INVALID_ARGUMENT, NOT_FOUND,
// RESOURCE_EXHAUSTED, UNAUTHENTICATED, PERMISSION_DENIED, FAILED_PRECONDITION, ...) is never
// retried, nor is the UNAVAILABLE of a TLS handshake that failed because the server's
// certificate did not verify.
//
// # Errors
//
// A failed call returns an [*Error]: the gRPC status code, its message and the google.rpc
// details the server sent (BadRequest field violations, QuotaFailure violations, ErrorInfo),
// decoded from the grpc-status-details-bin trailer with [status.FromError] and
// [status.Status.Details]. [*Error] implements GRPCStatus, so [status.Code] and
// [status.FromError] work on it too.
package median
