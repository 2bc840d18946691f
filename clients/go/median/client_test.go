package median

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/medianservice/median/clients/go/internal/testserver"
)

// reference is the exact median of numbers the way the server defines it: the middle number, or
// the mean of the two middle ones rounded once without overflow.
func reference(numbers []float64) float64 {
	sorted := slices.Sorted(slices.Values(numbers))
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return sorted[n/2-1]/2 + sorted[n/2]/2
}

// randomNumbers are n integers (so that every mean of two is exact) in [-1e6, 1e6).
func randomNumbers(n int) []float64 {
	numbers := make([]float64, n)
	for i := range numbers {
		numbers[i] = float64(rand.IntN(2_000_000) - 1_000_000)
	}
	return numbers
}

// calls records, for every call the client starts, its method and its session header.
type calls struct {
	mu      sync.Mutex
	methods []string
	headers []string
	ids     []string // the request_id of every streamed request, in the order sent
}

// recordingStream records the request id of every request sent on a stream.
type recordingStream struct {
	grpc.ClientStream
	c *calls
}

func (s recordingStream) SendMsg(m any) error {
	if r, ok := m.(interface{ GetRequestId() string }); ok {
		s.c.mu.Lock()
		s.c.ids = append(s.c.ids, r.GetRequestId())
		s.c.mu.Unlock()
	}
	return s.ClientStream.SendMsg(m)
}

// checkRequestIDs fails the test unless every request id sent is "<writer>:<seq>" of one
// writer, with seq running 1..want and every resend carrying the id it was first sent with.
func (c *calls) checkRequestIDs(t *testing.T, want int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	writers := map[string]bool{}
	seqs := map[string]bool{}
	for _, id := range c.ids {
		writer, seq, ok := strings.Cut(id, ":")
		if !ok || len(writer) != 22 {
			t.Fatalf("request id %q is not <writer>:<seq>", id)
		}
		writers[writer], seqs[seq] = true, true
	}
	if len(writers) != 1 {
		t.Errorf("%d writer ids in one call, want 1", len(writers))
	}
	for n := 1; n <= want; n++ {
		if !seqs[strconv.Itoa(n)] {
			t.Errorf("no request with seq %d", n)
		}
	}
	if len(seqs) != want {
		t.Errorf("%d distinct seqs, want %d", len(seqs), want)
	}
}

func (c *calls) record(ctx context.Context, method string) {
	md, _ := metadata.FromOutgoingContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.methods = append(c.methods, method)
	c.headers = append(c.headers, strings.Join(md.Get(SessionHeader), ","))
}

func (c *calls) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.methods {
		if strings.HasSuffix(m, "/"+method) {
			n++
		}
	}
	return n
}

func (c *calls) option() Option {
	return WithDialOptions(
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			c.record(ctx, method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			c.record(ctx, method)
			stream, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return recordingStream{stream, c}, nil
		}),
	)
}

func newClient(t *testing.T, target string, options ...Option) *Client {
	t.Helper()
	c, err := New(target, options...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newSession makes a session with an id of the library's, failing the test if it cannot.
func newSession(t *testing.T, ctx context.Context, c *Client) string {
	t.Helper()
	id, err := c.CreateSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err is an *Error with the code.
func wantCode(t *testing.T, err error, want codes.Code) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want an *Error with %v", err, err, want)
	}
	if e.Code != want {
		t.Fatalf("got %v, want %v", e, CodeName(want))
	}
	return e
}

func TestSessionLifecycleWithTheHeaderOnEveryCall(t *testing.T) {
	srv := testserver.Start(t)
	var seen calls
	c := newClient(t, srv.Addr(), seen.option())
	ctx := testContext(t)

	id := "lifecycle-" + NewSessionID()
	if got, err := c.CreateSession(ctx, id); err != nil || got != id {
		t.Fatalf("CreateSession(%q) = %q, %v", id, got, err)
	}
	result, err := c.Add(ctx, id, []float64{3, 1, 2, 10})
	if err != nil {
		t.Fatal(err)
	}
	if result.Added != 4 || result.Count != 4 || result.Value != 2.5 {
		t.Errorf("Add = %+v, want 4 added, count 4, median 2.5", result)
	}
	m, err := c.GetMedian(ctx, id)
	if err != nil || m.Count != 4 || m.Value != 2.5 || m.String() != "count=4 median=2.5" {
		t.Errorf("GetMedian = %+v, %v", m, err)
	}
	if err := c.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetMedian(ctx, id)
	wantCode(t, err, codes.NotFound)
	if !IsNotFound(err) || status.Code(err) != codes.NotFound {
		t.Errorf("IsNotFound / status.Code do not see NOT_FOUND in %v", err)
	}

	seen.mu.Lock()
	methods, headers := slices.Clone(seen.methods), slices.Clone(seen.headers)
	seen.mu.Unlock()
	if len(methods) != 5 {
		t.Errorf("calls %v, want 5", methods)
	}
	for i, h := range headers {
		if h != id {
			t.Errorf("%s carried %s=%q, want %q", methods[i], SessionHeader, h, id)
		}
	}

	fresh, err := c.CreateSession(ctx, "")
	if err != nil || len(fresh) != 22 {
		t.Errorf("CreateSession(\"\") = %q, %v; want a 22-character id of the library", fresh, err)
	}
	_, err = c.CreateSession(ctx, fresh)
	wantCode(t, err, codes.AlreadyExists)
}

func TestAddFromSliceIteratorAndChannel(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.Addr(), WithBatchSize(100))
	ctx := testContext(t)
	id := newSession(t, ctx, c)
	var all []float64

	first := randomNumbers(250)
	r, err := c.Add(ctx, id, first)
	all = append(all, first...)
	if err != nil || r.Added != 250 || r.Count != 250 || r.Value != reference(all) {
		t.Fatalf("Add(slice) = %+v, %v; want 250 added, median %v", r, err, reference(all))
	}

	second := randomNumbers(2_345)
	r, err = c.AddSeq(ctx, id, slices.Values(second))
	all = append(all, second...)
	if err != nil || r.Added != 2_345 || r.Count != int64(len(all)) || r.Value != reference(all) {
		t.Fatalf("AddSeq = %+v, %v; want count %d, median %v", r, err, len(all), reference(all))
	}

	third := randomNumbers(1_001)
	ch := make(chan float64)
	go func() {
		for _, x := range third {
			ch <- x
		}
		close(ch)
	}()
	r, err = c.AddChan(ctx, id, ch)
	all = append(all, third...)
	if err != nil || r.Added != 1_001 || r.Count != int64(len(all)) || r.Value != reference(all) {
		t.Fatalf("AddChan = %+v, %v; want count %d, median %v", r, err, len(all), reference(all))
	}

	r, err = c.Add(ctx, id, nil)
	if err != nil || r.Added != 0 || r.Count != int64(len(all)) {
		t.Errorf("Add(nil) = %+v, %v; want the session's count", r, err)
	}
}

func TestRunningMediansAnswerEveryRequestInOrder(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.Addr(), WithBatchSize(3))
	ctx := testContext(t)
	id := newSession(t, ctx, c)
	numbers := randomNumbers(10)
	var steps []Step
	for step, err := range c.RunningMedians(ctx, id, slices.Values(numbers)) {
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, step)
	}
	if len(steps) != 4 {
		t.Fatalf("%d answers for 10 numbers in requests of 3, want 4", len(steps))
	}
	for i, step := range steps {
		n := min(3*(i+1), 10)
		if step.Request != int64(i+1) || step.Count != int64(n) || step.Added != int64(step.Numbers) ||
			step.Value != reference(numbers[:n]) {
			t.Errorf("answer %d = %+v, want request %d, count %d, median %v", i, step, i+1, n, reference(numbers[:n]))
		}
	}

	// The callback form, and an error of the caller's own that ends the call as it is.
	mine := errors.New("enough")
	calls := 0
	err := c.RunningMediansFunc(ctx, id, slices.Values(randomNumbers(9)), func(Step) error {
		calls++
		return mine
	})
	if err != mine || calls != 1 {
		t.Errorf("RunningMediansFunc returned %v after %d calls, want the callback's error after 1", err, calls)
	}
}

func TestListSessionsInPages(t *testing.T) {
	srv := testserver.Start(t)
	c := newClient(t, srv.Addr())
	ctx := testContext(t)
	var made []string
	for range 5 {
		id := newSession(t, ctx, c)
		made = append(made, id)
	}
	page, err := c.ListSessions(ctx, 2, "")
	if err != nil || len(page.Sessions) != 2 || page.NextPageToken == "" {
		t.Fatalf("first page of 2 = %+v, %v", page, err)
	}
	var listed []string
	for s, err := range c.Sessions(ctx, 2) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, s.ID)
	}
	slices.Sort(made)
	if !slices.Equal(listed, made) {
		t.Errorf("Sessions listed %v, want %v in id order", listed, made)
	}
	_, err = c.ListSessions(ctx, 2, "not-a-token-of-the-server")
	wantCode(t, err, codes.InvalidArgument)
}

func TestRefusedRequestsCarryBadRequestAndAreNotRetried(t *testing.T) {
	srv := testserver.Start(t)
	var seen calls
	c := newClient(t, srv.Addr(), WithBatchSize(1), seen.option())
	ctx := testContext(t)
	id := newSession(t, ctx, c)

	r, err := c.Add(ctx, id, []float64{math.NaN()})
	e := wantCode(t, err, codes.InvalidArgument)
	if len(e.FieldViolations) != 1 || e.FieldViolations[0].GetField() != "numbers[0]" ||
		!strings.HasPrefix(e.DetailLines()[0], "BadRequest numbers[0]: ") || r.Added != 0 {
		t.Errorf("a NaN in the first request: %v, details %q, added %d", e, e.DetailLines(), r.Added)
	}
	_, err = c.GetMedian(ctx, id)
	wantCode(t, err, codes.FailedPrecondition) // the refused request added nothing

	var answered []Step
	err = c.RunningMediansFunc(ctx, id, slices.Values([]float64{1, 2, math.Inf(1), 4}), func(s Step) error {
		answered = append(answered, s)
		return nil
	})
	e = wantCode(t, err, codes.InvalidArgument)
	if len(answered) != 2 || len(e.FieldViolations) != 1 || e.FieldViolations[0].GetField() != "numbers[0]" {
		t.Errorf("an infinity after two answered requests: %d answers, %v %q", len(answered), e, e.DetailLines())
	}
	if seen.count("AddNumbers") != 1 || seen.count("RunningMedian") != 1 {
		t.Errorf("streams opened: %v; a refused request must not be retried", seen.methods)
	}

	_, err = c.Add(ctx, "no-such-session", []float64{1})
	wantCode(t, err, codes.NotFound)
	if seen.count("AddNumbers") != 2 {
		t.Errorf("NOT_FOUND was retried: %v", seen.methods)
	}
}

func TestTLSWithToken(t *testing.T) {
	certs := testserver.MakeCerts(t)
	const token = "0123456789abcdef-test-token"
	srv := testserver.Start(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey,
		"--auth-tokens", testserver.TokenFile(t, token))
	ctx := testContext(t)

	for _, target := range []string{srv.Addr(), "localhost:" + srv.Port} {
		c := newClient(t, target, WithCAFile(certs.CA), WithToken(token))
		id, err := c.CreateSession(ctx, "")
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if r, err := c.Add(ctx, id, []float64{4, 8, 15, 16}); err != nil || r.Value != 11.5 {
			t.Errorf("%s: Add over TLS = %+v, %v", target, r, err)
		}
	}

	noToken := newClient(t, srv.Addr(), WithCAFile(certs.CA))
	_, err := noToken.CreateSession(ctx, "")
	wantCode(t, err, codes.Unauthenticated)

	wrongToken := newClient(t, srv.Addr(), WithCAFile(certs.CA), WithToken("fedcba9876543210-wrong"))
	_, err = wrongToken.CreateSession(ctx, "")
	wantCode(t, err, codes.Unauthenticated)

	otherCA := newClient(t, srv.Addr(), WithCAFile(certs.OtherCA), WithToken(token), WithRetryFor(0))
	_, err = otherCA.GetMedian(ctx, "x")
	if e := wantCode(t, err, codes.Unavailable); !strings.Contains(e.Message, "certificate") {
		t.Errorf("a server the CA did not sign: %v, want a certificate error", e)
	}

	plaintext := newClient(t, srv.Addr(), WithRetryFor(0))
	_, err = plaintext.GetMedian(ctx, "x")
	wantCode(t, err, codes.Unavailable)
}

// TestUntrustedServerCertificateFailsAtOnce checks that a call to a server whose certificate
// the client's CA did not sign fails with UNAVAILABLE without resuming: waiting cannot fix it.
func TestUntrustedServerCertificateFailsAtOnce(t *testing.T) {
	certs := testserver.MakeCerts(t)
	srv := testserver.Start(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey)
	ctx := testContext(t)

	c := newClient(t, srv.Addr(), WithCAFile(certs.OtherCA), WithRetryFor(30*time.Second), WithCallTimeout(time.Minute))
	start := time.Now()
	_, err := c.CreateSession(ctx, "")
	elapsed := time.Since(start)
	if e := wantCode(t, err, codes.Unavailable); !strings.Contains(e.Message, "certificate") {
		t.Errorf("a server the CA did not sign: %v, want a certificate error", e)
	}
	if elapsed > 5*time.Second {
		t.Errorf("CreateSession failed after %v, want at once (no resuming)", elapsed)
	}
}

func TestMutualTLS(t *testing.T) {
	certs := testserver.MakeCerts(t)
	srv := testserver.Start(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey,
		"--tls-client-ca", certs.CA)
	ctx := testContext(t)

	c := newClient(t, srv.Addr(), WithCAFile(certs.CA), WithClientCertificateFiles(certs.ClientCert, certs.ClientKey))
	id := newSession(t, ctx, c)
	if r, err := c.Add(ctx, id, []float64{1, 2, 3}); err != nil || r.Value != 2 {
		t.Errorf("Add over mutual TLS = %+v, %v", r, err)
	}

	anonymous := newClient(t, srv.Addr(), WithCAFile(certs.CA), WithRetryFor(0))
	_, err := anonymous.CreateSession(ctx, "")
	wantCode(t, err, codes.Unavailable)
}

// TestAddResumesExactlyOnceAfterServerKilled kills the server (SIGKILL) while an AddNumbers
// stream is open and has requests applied but not acknowledged, restarts it on its data folder,
// and checks that every number is counted exactly once.
func TestAddResumesExactlyOnceAfterServerKilled(t *testing.T) {
	srv := testserver.Start(t, "--data-dir", t.TempDir())
	var seen calls
	c := newClient(t, srv.Addr(), WithBatchSize(1000), seen.option())
	watcher := newClient(t, srv.Addr())
	ctx := testContext(t)
	id := newSession(t, ctx, c)

	numbers := randomNumbers(100_000)
	ch := make(chan float64, len(numbers))
	for _, x := range numbers[:50_000] {
		ch <- x
	}
	type outcome struct {
		r   AddResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := c.AddChan(ctx, id, ch)
		done <- outcome{r, err}
	}()

	// Wait until the server has applied part of the stream, which acknowledges nothing yet.
	for {
		m, err := watcher.GetMedian(ctx, id)
		if err == nil && m.Count >= 20_000 {
			break
		}
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	for _, x := range numbers[50_000:] {
		ch <- x
	}
	close(ch)

	got := <-done
	if got.err != nil {
		t.Fatalf("AddChan across a restart: %v\nserver log:\n%s", got.err, srv.Output())
	}
	want := reference(numbers)
	if got.r.Added != 100_000 || got.r.Count != 100_000 || got.r.Value != want {
		t.Errorf("AddChan added %d, session %v; want 100000 added and counted, median %v", got.r.Added, got.r.Median, want)
	}
	m, err := watcher.GetMedian(ctx, id)
	if err != nil || m.Count != 100_000 || m.Value != want {
		t.Errorf("GetMedian after the restart = %+v, %v; want count 100000, median %v", m, err, want)
	}
	if n := seen.count("AddNumbers"); n < 2 {
		t.Errorf("%d AddNumbers streams: the kill did not break the stream", n)
	}
	seen.checkRequestIDs(t, 100)
}

// TestRunningMediansResumeExactlyOnceAfterServerKilled kills the server twice in the middle of
// a RunningMedian stream and checks that every request is answered once, in order, with the
// session's exact count and median after it.
func TestRunningMediansResumeExactlyOnceAfterServerKilled(t *testing.T) {
	srv := testserver.Start(t, "--data-dir", t.TempDir())
	var seen calls
	c := newClient(t, srv.Addr(), WithBatchSize(100), seen.option())
	ctx := testContext(t)
	id := newSession(t, ctx, c)
	numbers := randomNumbers(20_000)
	var restarted sync.WaitGroup
	var steps []Step
	err := c.RunningMediansFunc(ctx, id, slices.Values(numbers), func(s Step) error {
		steps = append(steps, s)
		if s.Request == 30 || s.Request == 120 {
			srv.Kill()
			restarted.Add(1)
			go func() {
				defer restarted.Done()
				time.Sleep(300 * time.Millisecond)
				srv.Restart()
			}()
		}
		return nil
	})
	restarted.Wait()
	if err != nil {
		t.Fatalf("RunningMediansFunc across two restarts: %v\nserver log:\n%s", err, srv.Output())
	}
	if len(steps) != 200 {
		t.Fatalf("%d answers, want one for each of the 200 requests", len(steps))
	}
	for i, s := range steps {
		n := 100 * (i + 1)
		if s.Request != int64(i+1) || s.Count != int64(n) || s.Value != reference(numbers[:n]) {
			t.Fatalf("answer %d = %+v, want request %d, count %d, median %v", i, s, i+1, n, reference(numbers[:n]))
		}
	}
	if n := seen.count("RunningMedian"); n < 3 {
		t.Errorf("%d RunningMedian streams for two kills, want at least 3", n)
	}
	seen.checkRequestIDs(t, 200)
}

func TestResumingStopsWhenTheRetryTimeOrDeadlineRunsOut(t *testing.T) {
	srv := testserver.Start(t)
	ctx := testContext(t)
	c := newClient(t, srv.Addr(), WithRetryFor(time.Second))
	id := newSession(t, ctx, c)
	srv.Kill()

	_, err := c.Add(ctx, id, []float64{1, 2, 3})
	wantCode(t, err, codes.Unavailable)

	patient := newClient(t, srv.Addr()) // resumes for 30 s, but the context allows 1 s
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = patient.RunningMediansFunc(short, id, slices.Values([]float64{1}), func(Step) error { return nil })
	var e *Error
	if !errors.As(err, &e) || (e.Code != codes.Unavailable && e.Code != codes.DeadlineExceeded) {
		t.Errorf("with the deadline run out: %v, want UNAVAILABLE or DEADLINE_EXCEEDED", err)
	}
}

// TestUnaryCallsRetryWhileTheServerRestarts calls CreateSession, GetMedian and DeleteSession
// while the server is down; each succeeds once it is back on its data folder.
func TestUnaryCallsRetryWhileTheServerRestarts(t *testing.T) {
	srv := testserver.Start(t, "--data-dir", t.TempDir())
	c := newClient(t, srv.Addr(), WithCallTimeout(2*time.Minute))
	ctx := testContext(t)
	id := newSession(t, ctx, c)
	if _, err := c.Add(ctx, id, []float64{5, 1, 3}); err != nil {
		t.Fatal(err)
	}
	whileDown := func(call func() error) error {
		srv.Kill()
		back := make(chan struct{})
		go func() {
			defer close(back)
			time.Sleep(300 * time.Millisecond)
			srv.Restart()
		}()
		err := call()
		<-back
		return err
	}
	var m Median
	if err := whileDown(func() (err error) { m, err = c.GetMedian(ctx, id); return err }); err != nil || m.Count != 3 || m.Value != 3 {
		t.Errorf("GetMedian across a restart = %v, %v; want count=3 median=3", m, err)
	}
	var fresh string
	if err := whileDown(func() (err error) { fresh, err = c.CreateSession(ctx, ""); return err }); err != nil || len(fresh) != 22 {
		t.Errorf("CreateSession across a restart = %q, %v", fresh, err)
	}
	if err := whileDown(func() error { return c.DeleteSession(ctx, id) }); err != nil {
		t.Errorf("DeleteSession across a restart: %v", err)
	}
	_, err := c.GetMedian(ctx, id)
	wantCode(t, err, codes.NotFound)
}

// TestSeveralWritersIntoOneSessionAcrossTwoKills runs four concurrent AddSeq calls into one
// session. Each input pauses at a third and at two thirds while its stream is open; at each
// pause the server is SIGKILLed and restarted on its data folder. Every number counts once.
func TestSeveralWritersIntoOneSessionAcrossTwoKills(t *testing.T) {
	const writers, each = 4, 12_000
	srv := testserver.Start(t, "--data-dir", t.TempDir())
	c := newClient(t, srv.Addr(), WithBatchSize(250))
	watcher := newClient(t, srv.Addr())
	ctx := testContext(t)
	id := newSession(t, ctx, c)
	gates := []chan struct{}{make(chan struct{}), make(chan struct{})}
	inputs := make([][]float64, writers)
	var all []float64
	for w := range inputs {
		inputs[w] = randomNumbers(each)
		all = append(all, inputs[w]...)
	}
	source := func(numbers []float64) func(func(float64) bool) {
		return func(yield func(float64) bool) {
			for i, x := range numbers {
				if i > 0 && i%(each/3) == 0 {
					<-gates[i/(each/3)-1]
				}
				if !yield(x) {
					return
				}
			}
		}
	}
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			r, err := c.AddSeq(ctx, id, source(inputs[w]))
			if err == nil && r.Added != each {
				err = fmt.Errorf("writer %d: added %d, want %d", w, r.Added, each)
			}
			errs <- err
		}()
	}
	waitForCount := func(n int64) {
		for {
			m, err := watcher.GetMedian(ctx, id)
			if err == nil && m.Count == n {
				return
			}
			if err == nil && m.Count > n {
				t.Fatalf("the session holds %d numbers, more than the %d sent so far", m.Count, n)
			}
			if err != nil && status.Code(err) != codes.FailedPrecondition {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i, gate := range gates {
		waitForCount(int64(writers * each / 3 * (i + 1)))
		srv.Kill()
		time.Sleep(300 * time.Millisecond)
		srv.Restart()
		close(gate)
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("%v\nserver log:\n%s", err, srv.Output())
		}
	}
	m, err := watcher.GetMedian(ctx, id)
	if want := reference(all); err != nil || m.Count != writers*each || m.Value != want {
		t.Errorf("after four writers and two kills: %v, %v; want count=%d median=%v", m, err, writers*each, want)
	}
}

// TestAddAcknowledgesEvery65536Numbers checks that a long Add is cut into AddNumbers streams of
// at most 65,536 numbers (each answer acknowledges its stream) and still adds every number once.
func TestAddAcknowledgesEvery65536Numbers(t *testing.T) {
	srv := testserver.Start(t)
	var seen calls
	c := newClient(t, srv.Addr(), WithBatchSize(1000), seen.option())
	ctx := testContext(t)
	id := newSession(t, ctx, c)
	numbers := randomNumbers(200_000)
	r, err := c.Add(ctx, id, numbers)
	if err != nil || r.Added != 200_000 || r.Count != 200_000 || r.Value != reference(numbers) {
		t.Fatalf("Add of 200000 = added %d, %v, %v; want 200000, median %v", r.Added, r.Median, err, reference(numbers))
	}
	// 66 requests of 1,000 reach 65,536: streams of 66, 66, 66 and 2 requests.
	if n := seen.count("AddNumbers"); n != 4 {
		t.Errorf("%d AddNumbers streams for 200 requests of 1,000, want 4", n)
	}
	seen.checkRequestIDs(t, 200)

	// Input that ends exactly at a stream's bound: the last stream has nothing new to carry but
	// must still answer the session's count and median.
	more := randomNumbers(66_000)
	r, err = c.Add(ctx, id, more)
	all := append(numbers, more...)
	if err != nil || r.Added != 66_000 || r.Count != int64(len(all)) || r.Value != reference(all) {
		t.Errorf("Add of 66000 = added %d, %v, %v; want count %d, median %v", r.Added, r.Median, err, len(all), reference(all))
	}
}
