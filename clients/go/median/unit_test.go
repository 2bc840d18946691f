package median

import (
	"context"
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorDecodesEveryDetailKind(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "numbers[2] is nan").WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "numbers[2]", Description: "nan is not a finite number"}}},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{
			{Subject: "max-sessions", Description: "at most 10 sessions"}}},
		&errdetails.ErrorInfo{Reason: "NON_FINITE_NUMBER", Domain: "median.v1"},
	)
	if err != nil {
		t.Fatal(err)
	}
	e := toError(st.Err())
	var got *Error
	if !errors.As(e, &got) {
		t.Fatalf("toError gave %T, want *Error", e)
	}
	if got.Error() != "INVALID_ARGUMENT: numbers[2] is nan" {
		t.Errorf("Error() = %q", got.Error())
	}
	want := []string{
		"BadRequest numbers[2]: nan is not a finite number",
		"QuotaFailure max-sessions: at most 10 sessions",
		"ErrorInfo NON_FINITE_NUMBER median.v1",
	}
	if lines := got.DetailLines(); !slices.Equal(lines, want) {
		t.Errorf("DetailLines() = %q, want %q", lines, want)
	}
	if status.Code(e) != codes.InvalidArgument {
		t.Errorf("status.Code sees %v through *Error", status.Code(e))
	}
	if back, ok := status.FromError(e); !ok || len(back.Details()) != 3 {
		t.Errorf("status.FromError(*Error) lost the details: %v", back)
	}
}

func TestErrorFromContextAndPlainErrors(t *testing.T) {
	if c := toError(context.DeadlineExceeded).(*Error).Code; c != codes.DeadlineExceeded {
		t.Errorf("context.DeadlineExceeded became %v", c)
	}
	if c := toError(context.Canceled).(*Error).Code; c != codes.Canceled {
		t.Errorf("context.Canceled became %v", c)
	}
	if e := toError(errors.New("boom")).(*Error); e.Code != codes.Unknown || e.Message != "boom" {
		t.Errorf("a plain error became %v", e)
	}
	if toError(nil) != nil {
		t.Error("toError(nil) is not nil")
	}
}

func TestNewSessionIDIs128RandomBitsInBase64URL(t *testing.T) {
	form := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewSessionID()
		if !form.MatchString(id) || seen[id] {
			t.Fatalf("NewSessionID() = %q (malformed or repeated)", id)
		}
		seen[id] = true
	}
}

func TestMedianStringRoundTripsBitForBit(t *testing.T) {
	for _, m := range []float64{2, 1.5, 0.15000000000000002, math.MaxFloat64, 1e-323,
		math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0, -2.5e-300, 1e21, 123456789012345680} {
		text := Median{Count: 1, Value: m}.String()
		back, err := strconv.ParseFloat(strings.TrimPrefix(text, "count=1 median="), 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(m) {
			t.Errorf("Median %v prints %q, which parses back to %v (%v)", m, text, back, err)
		}
	}
	if got := (Median{Count: 1, Value: math.Copysign(0, -1)}).String(); got != "count=1 median=-0" {
		t.Errorf("-0 prints %q", got)
	}
	if got := (Median{}).String(); got != "count=0" {
		t.Errorf("an empty session prints %q, want count=0", got)
	}
}

// collect runs a producer to the end and returns its batches.
func collect(p producer) [][]float64 {
	out := make(chan []float64)
	go p(context.Background(), out)
	var batches [][]float64
	for b := range out {
		batches = append(batches, b)
	}
	return batches
}

func TestBatchesKeepOrderAndSendOneEmptyRequestForNoInput(t *testing.T) {
	seven := []float64{1, 2, 3, 4, 5, 6, 7}
	want := [][]float64{{1, 2, 3}, {4, 5, 6}, {7}}
	closed := func(numbers []float64) <-chan float64 {
		ch := make(chan float64, len(numbers))
		for _, x := range numbers {
			ch <- x
		}
		close(ch)
		return ch
	}
	for name, p := range map[string]producer{
		"slice": sliceBatches(seven, 3), "seq": seqBatches(slices.Values(seven), 3), "chan": chanBatches(closed(seven), 3),
	} {
		if got := collect(p); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: batches of 7 by 3 = %v, want %v", name, got, want)
		}
	}
	for name, p := range map[string]producer{
		"slice": sliceBatches(nil, 3), "seq": seqBatches(slices.Values([]float64(nil)), 3), "chan": chanBatches(closed(nil), 3),
	} {
		if got := collect(p); len(got) != 1 || len(got[0]) != 0 {
			t.Errorf("%s: no input gives %v, want one empty batch", name, got)
		}
	}
}

func TestChannelBatchGoesOutWhenTheChannelHasNothingReady(t *testing.T) {
	ch := make(chan float64, 10)
	ch <- 1
	ch <- 2
	out := make(chan []float64)
	go chanBatches(ch, 1000)(context.Background(), out)
	select {
	case b := <-out:
		if !slices.Equal(b, []float64{1, 2}) {
			t.Errorf("first batch %v, want [1 2]", b)
		}
	case <-time.After(time.Minute):
		t.Fatal("a partial batch was held back while the channel was idle")
	}
	close(ch)
	if b, ok := <-out; ok {
		t.Errorf("after close: batch %v, want the end of the batches", b)
	}
}

func TestOptionsRefuseBadValues(t *testing.T) {
	for name, option := range map[string]Option{
		"token with a space":   WithToken("abc def"),
		"token with a newline": WithToken("abcdef\n"),
		"empty token":          WithToken(""),
		"CA without PEM":       WithCA([]byte("not a certificate")),
		"missing CA file":      WithCAFile("does-not-exist.pem"),
		"missing client cert":  WithClientCertificateFiles("no-cert.pem", "no-key.pem"),
		"zero batch":           WithBatchSize(0),
		"negative retry":       WithRetryFor(-time.Second),
		"zero call timeout":    WithCallTimeout(0),
	} {
		if c, err := New("127.0.0.1:1", option); err == nil {
			c.Close()
			t.Errorf("%s: New accepted it", name)
		} else if strings.Contains(err.Error(), "abc def") {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

func TestRetryableTakesATransportResetButNotAServerSentInternalOrAnUntrustedCertificate(t *testing.T) {
	live := context.Background()
	// What grpc-go reports when Envoy resets a stream whose shard died: RST_STREAM INTERNAL_ERROR.
	reset := status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR")
	if !retryable(live, reset) {
		t.Errorf("%v is not retried", reset)
	}
	for _, err := range []error{
		status.Error(codes.Internal, "internal error"),
		status.Error(codes.Internal, "server closed the stream without sending trailers"),
		status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: PROTOCOL_ERROR"),
		status.Error(codes.InvalidArgument, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"),
	} {
		if retryable(live, err) {
			t.Errorf("%v is retried", err)
		}
	}
	if !retryable(live, status.Error(codes.Unavailable, "connection refused")) {
		t.Error("UNAVAILABLE is not retried")
	}
	// What grpc-go reports when the server's certificate does not verify, and when the server
	// closes the connection during the handshake.
	untrusted := status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`)
	if retryable(live, untrusted) {
		t.Errorf("%v is retried", untrusted)
	}
	if !retryable(live, status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: EOF"`)) {
		t.Error("a handshake cut short is not retried")
	}
	cancelled, cancel := context.WithCancel(live)
	cancel()
	if !retryable(live, status.Error(codes.Canceled, "stream terminated by RST_STREAM with error code: CANCEL")) ||
		retryable(cancelled, status.Error(codes.Canceled, "context canceled")) {
		t.Error("CANCELLED is not retried exactly while the caller's context is live")
	}
}
