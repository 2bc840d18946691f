package median

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// retryable reports whether a call may be resumed after err: UNAVAILABLE, which grpc-go gives
// for a refused connection, a transport broken under the call and a server that is draining
// (but not for a TLS handshake that failed on the server's certificate, which waiting cannot
// fix); and CANCELLED while the caller's own context is still live, which is how grpc-go reports a
// stream the server or a proxy reset (RST_STREAM CANCEL, e.g. a server stopping after its
// grace period); and the INTERNAL that grpc-go makes itself for a stream reset with
// RST_STREAM INTERNAL_ERROR, which is how Envoy ends a stream whose shard died after answers had
// started (every request carries a request id, so resending is safe). Every refusal
// (INVALID_ARGUMENT, NOT_FOUND, ...), an INTERNAL the server sent, and the caller's own
// cancellation or deadline are final.
func retryable(ctx context.Context, err error) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return !strings.Contains(status.Convert(err).Message(), certificateNotVerified)
	case codes.Canceled:
		return ctx.Err() == nil
	case codes.Internal:
		return status.Convert(err).Message() == rstStreamInternal
	}
	return false
}

// rstStreamInternal is the message grpc-go (internal/transport, handleRSTStream) gives the
// INTERNAL status it makes for an RST_STREAM frame with error code INTERNAL_ERROR. Matched
// whole, so that an INTERNAL the server sent (API.md: a generic message) is never retried.
const rstStreamInternal = "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"

// certificateNotVerified starts the text of crypto/tls's CertificateVerificationError, which a
// TLS handshake fails with when the server's certificate does not verify (unknown authority,
// wrong name, expired). grpc-go turns the failed handshake into the UNAVAILABLE status of the
// call with only the error's text in the message (transport: authentication handshake failed:
// ...), so there is no error value to check with errors.As; the phrase is the standard
// library's, and other handshake failures (a connection closed midway) stay retryable.
const certificateNotVerified = "tls: failed to verify certificate"

// retrier decides, after each failed attempt of one call, whether to try again and waits the
// backoff. Its budget is the client's retry time, counted from the first failure that no
// acknowledgement has followed, and the context's deadline.
type retrier struct {
	c     *Client
	since time.Time // the first failure since the last acknowledgement; zero: none
	delay time.Duration
}

// progressed records an acknowledgement: the next failure starts a fresh budget and backoff.
func (r *retrier) progressed() { r.since, r.delay = time.Time{}, 0 }

// wait returns nil after sleeping the backoff when err may be retried, and otherwise the
// error the call returns: err itself as an *Error (the last UNAVAILABLE when the budget or the
// deadline runs out), or DEADLINE_EXCEEDED / CANCELLED when the context ends while waiting.
// Backoff: exponential from 100 ms to 2 s with "equal jitter" (half fixed, half random).
func (r *retrier) wait(ctx context.Context, err error) error {
	if !retryable(ctx, err) || r.c.s.retryFor <= 0 {
		return toError(err)
	}
	now := time.Now()
	if r.since.IsZero() {
		r.since = now
	}
	r.delay = min(max(2*r.delay, firstBackoff), maxBackoff)
	sleep := r.delay/2 + rand.N(r.delay/2+1)
	wake := now.Add(sleep)
	if wake.After(r.since.Add(r.c.s.retryFor)) {
		return toError(err)
	}
	if deadline, ok := ctx.Deadline(); ok && wake.After(deadline) {
		return toError(err)
	}
	timer := time.NewTimer(sleep)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return toError(ctx.Err())
	}
}
