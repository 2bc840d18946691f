package median

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"iter"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/medianservice/median/clients/go/gen/median/v1"
)

// SessionHeader is the request metadata that names a call's session, for routing proxies.
const SessionHeader = "median-session-id"

// Client calls one median service over one gRPC channel. It is safe for concurrent use; make
// one per target and share it.
type Client struct {
	conn *grpc.ClientConn
	rpc  pb.MedianServiceClient
	s    settings
}

// New makes a client of the service at target ("host:port", or any grpc-go target). It does
// not connect yet: the channel connects on the first call and reconnects by itself. Errors:
// a bad option (unreadable CA or certificate file, malformed token) or a malformed target.
func New(target string, options ...Option) (*Client, error) {
	s := settings{callTimeout: DefaultCallTimeout, retryFor: DefaultRetryFor, batchSize: DefaultBatchSize}
	for _, option := range options {
		if err := option(&s); err != nil {
			return nil, err
		}
	}
	dial := []grpc.DialOption{
		// The channel's own reconnect backoff, as short as the resume backoff, so that a
		// restarted server is found again within about 2 s (grpc-go's default waits up to 120 s).
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 20 * time.Second,
		}),
	}
	if s.tls {
		config := s.tlsConfig
		if config == nil {
			config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if s.roots != nil {
			config.RootCAs = s.roots
		}
		config.Certificates = append(config.Certificates, s.certs...)
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(config)))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if s.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearerToken{header: "Bearer " + s.token, secure: s.tls}))
	}
	conn, err := grpc.NewClient(target, append(dial, s.dialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("median: target %q: %w", target, err)
	}
	return &Client{conn: conn, rpc: pb.NewMedianServiceClient(conn), s: s}, nil
}

// Close closes the channel; calls in flight fail with CANCELLED.
func (c *Client) Close() error { return c.conn.Close() }

// bearerToken is grpc-go per-RPC credentials carrying a fixed bearer token. Written here
// because grpc-go's credentials/oauth would add golang.org/x/oauth2 for a constant string and
// always refuses plaintext, which a local server or a TLS-terminating sidecar needs.
type bearerToken struct {
	header string
	secure bool
}

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

func (b bearerToken) RequireTransportSecurity() bool { return b.secure }

// NewSessionID returns a fresh id: 128 random bits as 22 characters of unpadded URL-safe
// base64 ([A-Za-z0-9_-]), the form every client of this project uses for session and writer ids.
func NewSessionID() string {
	id := make([]byte, 16)
	rand.Read(id) // crypto/rand.Read never fails; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(id)
}

// Median is a session's count and median at one moment.
type Median struct {
	// SessionID names the session.
	SessionID string
	// Count is how many numbers the session holds, zero or more.
	Count int64
	// Value is the median; meaningful only when Count > 0 (it is 0 otherwise).
	Value float64
}

// String returns "count=<n> median=<m>" with m in the shortest form that parses back to the
// same double, or "count=0" for an empty session: the command-line clients' line.
func (m Median) String() string {
	if m.Count == 0 {
		return "count=0"
	}
	return "count=" + strconv.FormatInt(m.Count, 10) + " median=" + strconv.FormatFloat(m.Value, 'g', -1, 64)
}

// withSession puts the routing header on ctx.
func withSession(ctx context.Context, sessionID string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, SessionHeader, sessionID)
}

// unary runs one unary call: it gives ctx the default call deadline unless it has one, and
// runs attempt again after each retryable failure, within the retry budget and the deadline.
// retry tells attempt whether an earlier attempt failed, so that it can tell an answer to a
// resend from a first answer.
func unary[T any](ctx context.Context, c *Client, attempt func(ctx context.Context, retry bool) (T, error)) (T, error) {
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, c.s.callTimeout)
	}
	defer cancel()
	r := retrier{c: c}
	for retry := false; ; retry = true {
		answer, err := attempt(ctx, retry)
		if err == nil {
			return answer, nil
		}
		if err := r.wait(ctx, err); err != nil {
			var none T
			return none, err
		}
	}
}

// CreateSession makes an empty session named id, or a fresh NewSessionID when id is "", and
// returns its id. It is retried on UNAVAILABLE. A retry that finds the id taken means the
// first attempt made it when the id is the library's own (128 random bits cannot collide), so
// that counts as success; an id of the caller's is then reported ALREADY_EXISTS, since the
// library cannot tell whose it is. Errors: INVALID_ARGUMENT (malformed id), ALREADY_EXISTS,
// RESOURCE_EXHAUSTED (too many sessions).
func (c *Client) CreateSession(ctx context.Context, id string) (string, error) {
	ours := id == ""
	if ours {
		id = NewSessionID()
	}
	return unary(withSession(ctx, id), c, func(ctx context.Context, retry bool) (string, error) {
		reply, err := c.rpc.CreateSession(ctx, &pb.CreateSessionRequest{SessionId: id})
		if retry && ours && status.Code(err) == codes.AlreadyExists {
			return id, nil
		}
		return reply.GetSessionId(), err
	})
}

// GetMedian returns the session's count and median. It changes nothing, so it is retried on
// UNAVAILABLE like an ingest. Errors: NOT_FOUND, FAILED_PRECONDITION (no numbers yet).
func (c *Client) GetMedian(ctx context.Context, sessionID string) (Median, error) {
	return unary(withSession(ctx, sessionID), c, func(ctx context.Context, _ bool) (Median, error) {
		reply, err := c.rpc.GetMedian(ctx, &pb.GetMedianRequest{SessionId: sessionID})
		if err != nil {
			return Median{}, err
		}
		return Median{SessionID: reply.GetSessionId(), Count: reply.GetNumberCount(), Value: reply.GetMedian()}, nil
	})
}

// DeleteSession removes the session. It is retried on UNAVAILABLE; a retry that finds the
// session gone counts as success (the first attempt, or someone else, deleted it). Errors:
// NOT_FOUND.
func (c *Client) DeleteSession(ctx context.Context, sessionID string) error {
	_, err := unary(withSession(ctx, sessionID), c, func(ctx context.Context, retry bool) (*pb.DeleteSessionResponse, error) {
		reply, err := c.rpc.DeleteSession(ctx, &pb.DeleteSessionRequest{SessionId: sessionID})
		if retry && status.Code(err) == codes.NotFound {
			return reply, nil
		}
		return reply, err
	})
	return err
}

// SessionSummary is one session of a ListSessions page.
type SessionSummary struct {
	ID    string
	Count int64
}

// Page is one page of sessions, ordered by id.
type Page struct {
	Sessions []SessionSummary
	// NextPageToken asks for the next page; "" when this page is the last.
	NextPageToken string
}

// ListSessions returns one page of at most pageSize sessions (0: the server's default of 100;
// at most 1,000) starting at pageToken ("" for the first page). Retried on UNAVAILABLE.
// Errors: INVALID_ARGUMENT for a negative size or a token the server did not issue.
func (c *Client) ListSessions(ctx context.Context, pageSize int32, pageToken string) (Page, error) {
	return unary(ctx, c, func(ctx context.Context, _ bool) (Page, error) {
		reply, err := c.rpc.ListSessions(ctx, &pb.ListSessionsRequest{PageSize: pageSize, PageToken: pageToken})
		if err != nil {
			return Page{}, err
		}
		page := Page{NextPageToken: reply.GetNextPageToken()}
		for _, s := range reply.GetSessions() {
			page.Sessions = append(page.Sessions, SessionSummary{ID: s.GetSessionId(), Count: s.GetNumberCount()})
		}
		return page, nil
	})
}

// Sessions iterates over every session, fetching pages of pageSize as it goes (each page a
// call with its own default deadline). It yields a non-nil error at most once, and then stops.
func (c *Client) Sessions(ctx context.Context, pageSize int32) iter.Seq2[SessionSummary, error] {
	return func(yield func(SessionSummary, error) bool) {
		token := ""
		for {
			page, err := c.ListSessions(ctx, pageSize, token)
			if err != nil {
				yield(SessionSummary{}, err)
				return
			}
			for _, s := range page.Sessions {
				if !yield(s, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			token = page.NextPageToken
		}
	}
}
