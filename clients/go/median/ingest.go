package median

import (
	"context"
	"errors"
	"io"
	"iter"
	"strconv"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/medianservice/median/clients/go/gen/median/v1"
)

// An AddNumbers stream acknowledges its requests only with its final answer, so Add ends a
// stream and opens the next one once it has carried this many requests or numbers. That bounds
// what the client keeps for resending (512 KiB of numbers) and how much a broken stream resends,
// gives the retry budget an acknowledgement to restart from every 65,536 numbers, and stays
// within the 1,024 request ids that any server of this project remembers per session. The cost
// is one round trip per stream.
const (
	maxStreamRequests = 1024
	maxStreamNumbers  = 1 << 16
)

// AddResult is what one Add call did.
type AddResult struct {
	// Added is how many numbers of this call the server applied: all of them on success, each
	// exactly once, whatever resends it took.
	Added int64
	// Median is the session's count and median after the call's last request.
	Median
}

// Step answers one request of a RunningMedians call, after it was applied.
type Step struct {
	// Request is the request's number in the call, from 1, in order; every request is answered
	// exactly once, even across a resume.
	Request int64
	// Numbers is how many numbers the request carried.
	Numbers int
	// Added is how many numbers the server added for this answer: 0 when it had applied the
	// request before the stream broke and the library resent it.
	Added int64
	// Median is the session's count and median after the request.
	Median
}

// Add adds numbers to the session in requests of at most the batch size, exactly once (see the
// package doc), and returns what it added and the session's count and median. The slice must
// not change until Add returns. Errors: as AddNumbers (INVALID_ARGUMENT for NaN or an infinity,
// with a BadRequest field violation; NOT_FOUND; RESOURCE_EXHAUSTED), or the last UNAVAILABLE /
// DEADLINE_EXCEEDED when resuming ran out of time. On an error the requests before the failing
// one may have been applied: AddResult.Added counts those the server acknowledged.
func (c *Client) Add(ctx context.Context, sessionID string, numbers []float64) (AddResult, error) {
	return c.add(ctx, sessionID, sliceBatches(numbers, c.s.batchSize))
}

// AddSeq is Add with the numbers taken from an iterator, which runs in a goroutine of its own
// and is read ahead by at most two requests. No numbers at all still send one empty request.
func (c *Client) AddSeq(ctx context.Context, sessionID string, numbers iter.Seq[float64]) (AddResult, error) {
	return c.add(ctx, sessionID, seqBatches(numbers, c.s.batchSize))
}

// AddChan is Add with the numbers received from a channel until it is closed. A request goes
// out when it is full or when the channel has nothing more ready, so that a slow producer's
// numbers are not held back.
func (c *Client) AddChan(ctx context.Context, sessionID string, numbers <-chan float64) (AddResult, error) {
	return c.add(ctx, sessionID, chanBatches(numbers, c.s.batchSize))
}

// RunningMediansFunc sends numbers over RunningMedian streams in requests of at most the batch
// size and calls fn with the answer to each request, in order, exactly once each, on the
// caller's goroutine. An error from fn ends the call and is returned as it is. Other errors: as
// Add.
func (c *Client) RunningMediansFunc(ctx context.Context, sessionID string, numbers iter.Seq[float64], fn func(Step) error) error {
	return c.running(ctx, sessionID, seqBatches(numbers, c.s.batchSize), fn)
}

var errStopped = errors.New("median: the caller stopped iterating")

// RunningMedians is RunningMediansFunc as an iterator: it yields each Step with a nil error, and
// at most one non-nil error last. Breaking out of the loop cancels the stream; the server keeps
// what it had applied.
func (c *Client) RunningMedians(ctx context.Context, sessionID string, numbers iter.Seq[float64]) iter.Seq2[Step, error] {
	return func(yield func(Step, error) bool) {
		err := c.RunningMediansFunc(ctx, sessionID, numbers, func(s Step) error {
			if !yield(s, nil) {
				return errStopped
			}
			return nil
		})
		if err != nil && err != errStopped {
			yield(Step{}, err)
		}
	}
}

// producer sends the batches of an input to out and closes it at the end of the input, or
// returns early when ctx ends. An empty input makes one empty batch, so that the stream names
// its session and is answered with the session's count and median.
type producer func(ctx context.Context, out chan<- []float64)

func sliceBatches(numbers []float64, size int) producer {
	return func(ctx context.Context, out chan<- []float64) {
		defer close(out)
		for first := true; first || len(numbers) > 0; first = false {
			n := min(size, len(numbers))
			select {
			case out <- numbers[:n:n]:
				numbers = numbers[n:]
			case <-ctx.Done():
				return
			}
		}
	}
}

func seqBatches(numbers iter.Seq[float64], size int) producer {
	return func(ctx context.Context, out chan<- []float64) {
		defer close(out)
		batch, sent := make([]float64, 0, size), false
		for x := range numbers {
			batch = append(batch, x)
			if len(batch) == size {
				select {
				case out <- batch:
				case <-ctx.Done():
					return
				}
				batch, sent = make([]float64, 0, size), true
			}
		}
		if len(batch) > 0 || !sent {
			select {
			case out <- batch:
			case <-ctx.Done():
			}
		}
	}
}

func chanBatches(numbers <-chan float64, size int) producer {
	return func(ctx context.Context, out chan<- []float64) {
		defer close(out)
		sent := false
		for {
			batch := make([]float64, 0, size)
			open := true
			select { // wait for the first number of the next request
			case x, ok := <-numbers:
				if ok {
					batch = append(batch, x)
				}
				open = ok
			case <-ctx.Done():
				return
			}
		fill: // then take what is ready, without waiting
			for open && len(batch) < size {
				select {
				case x, ok := <-numbers:
					if !ok {
						open = false
						break fill
					}
					batch = append(batch, x)
				default:
					break fill
				}
			}
			if len(batch) > 0 || !sent {
				select {
				case out <- batch:
					sent = true
				case <-ctx.Done():
					return
				}
			}
			if !open {
				return
			}
		}
	}
}

// request is one request of a writer: its sequence number and its numbers.
type request struct {
	seq     int64
	numbers []float64
}

// writer is the state of one ingest call: its id, the input, and the requests taken from the
// input that the server has not acknowledged yet (sent, or to be resent), in order.
type writer struct {
	rpc       pb.MedianServiceClient
	sessionID string
	id        string
	batches   <-chan []float64

	mu        sync.Mutex
	unacked   []request
	next      int64
	inputDone bool
}

func (c *Client) newWriter(ctx context.Context, sessionID string, produce producer) *writer {
	batches := make(chan []float64)
	go produce(ctx, batches)
	return &writer{rpc: c.rpc, sessionID: sessionID, id: NewSessionID(), batches: batches}
}

func (w *writer) requestID(r request) string { return w.id + ":" + strconv.FormatInt(r.seq, 10) }

// take waits for the next batch of the input and files it as unacknowledged before returning
// it, so that a batch once taken is never lost. more is false at the end of the input.
func (w *writer) take(ctx context.Context) (r request, more bool, err error) {
	select {
	case batch, ok := <-w.batches:
		w.mu.Lock()
		defer w.mu.Unlock()
		if !ok {
			w.inputDone = true
			return request{}, false, nil
		}
		return w.fileLocked(batch), true, nil
	case <-ctx.Done():
		return request{}, false, ctx.Err()
	}
}

// file makes batch the writer's next request, unacknowledged.
func (w *writer) file(batch []float64) request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fileLocked(batch)
}

func (w *writer) fileLocked(batch []float64) request {
	w.next++
	r := request{seq: w.next, numbers: batch}
	w.unacked = append(w.unacked, r)
	return r
}

// pending returns the unacknowledged requests, to resend at the start of a new stream.
func (w *writer) pending() []request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]request(nil), w.unacked...)
}

// finished reports whether the input is exhausted and every request acknowledged.
func (w *writer) finished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inputDone && len(w.unacked) == 0
}

func (w *writer) inputEnded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inputDone
}

// ackFirst acknowledges the oldest unacknowledged request (a RunningMedian answer).
func (w *writer) ackFirst() (request, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unacked) == 0 {
		return request{}, false
	}
	r := w.unacked[0]
	w.unacked = w.unacked[1:]
	return r, true
}

// ackUpTo acknowledges every request up to seq (an AddNumbers answer) and returns how many
// numbers they carried.
func (w *writer) ackUpTo(seq int64) (numbers int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.unacked) > 0 && w.unacked[0].seq <= seq {
		numbers += int64(len(w.unacked[0].numbers))
		w.unacked = w.unacked[1:]
	}
	return numbers
}

func (c *Client) add(ctx context.Context, sessionID string, produce producer) (AddResult, error) {
	ctx, cancel := context.WithCancel(withSession(ctx, sessionID))
	defer cancel() // stops the producer
	w := c.newWriter(ctx, sessionID, produce)
	var result AddResult
	r := retrier{c: c}
	for {
		reply, last, err := w.addStream(ctx)
		if err == nil {
			result.Added += w.ackUpTo(last)
			result.Median = Median{SessionID: sessionID, Count: reply.GetNumberCount(), Value: reply.GetMedian()}
			r.progressed()
			if w.finished() {
				return result, nil
			}
			continue
		}
		if err := r.wait(ctx, err); err != nil {
			return result, err
		}
	}
}

// addStream runs one AddNumbers stream: it resends the unacknowledged requests, sends new ones
// until the input ends or the stream's bound is reached, half-closes and returns the answer and
// the sequence number of the last request the stream carried.
func (w *writer) addStream(ctx context.Context) (*pb.AddNumbersResponse, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := w.rpc.AddNumbers(ctx)
	if err != nil {
		return nil, 0, err
	}
	var requests, numbers int
	var last int64
	send := func(r request) bool {
		requests, numbers, last = requests+1, numbers+len(r.numbers), r.seq
		// An error here (io.EOF) means the stream has ended; CloseAndRecv returns its status.
		return stream.Send(&pb.AddNumbersRequest{SessionId: w.sessionID, Numbers: r.numbers, RequestId: w.requestID(r)}) == nil
	}
	open := true
	for _, r := range w.pending() {
		if open = send(r); !open {
			break
		}
	}
	for open && requests < maxStreamRequests && numbers < maxStreamNumbers && !w.inputEnded() {
		r, more, err := w.take(ctx)
		if err != nil {
			return nil, 0, err
		}
		if !more {
			break
		}
		open = send(r)
	}
	if requests == 0 {
		// The input ended right at the previous stream's bound: an empty request names the
		// session, so that the answer carries its count and median.
		open = send(w.file(nil))
	}
	reply, err := stream.CloseAndRecv()
	if err == nil && !open {
		return nil, 0, status.Error(codes.Internal, "the server ended the AddNumbers stream before the client half-closed it")
	}
	return reply, last, err
}

// callbackError carries an error of the caller's function through the retry loop unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

func (c *Client) running(ctx context.Context, sessionID string, produce producer, fn func(Step) error) error {
	ctx, cancel := context.WithCancel(withSession(ctx, sessionID))
	defer cancel() // stops the producer
	w := c.newWriter(ctx, sessionID, produce)
	r := retrier{c: c}
	for {
		progressed, err := w.runningStream(ctx, fn)
		if err == nil {
			return nil
		}
		var fromCaller callbackError
		if errors.As(err, &fromCaller) {
			return fromCaller.err
		}
		if progressed {
			r.progressed()
		}
		if err := r.wait(ctx, err); err != nil {
			return err
		}
	}
}

// runningStream runs one RunningMedian stream: a goroutine resends the unacknowledged requests
// and then sends new ones, while this goroutine takes the answers in order, each acknowledging
// the oldest unacknowledged request, and hands them to fn. progressed reports whether any
// answer arrived.
func (w *writer) runningStream(ctx context.Context, fn func(Step) error) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := w.rpc.RunningMedian(ctx)
	if err != nil {
		cancel()
		return false, err
	}
	sent := make(chan struct{})
	defer func() {
		cancel()
		<-sent // the next stream's sender must not take from the input while this one may
	}()
	resend := w.pending()
	go func() {
		defer close(sent)
		send := func(r request) bool {
			return stream.Send(&pb.RunningMedianRequest{SessionId: w.sessionID, Numbers: r.numbers, RequestId: w.requestID(r)}) == nil
		}
		for _, r := range resend {
			if !send(r) {
				return
			}
		}
		for {
			r, more, err := w.take(ctx)
			if err != nil {
				return
			}
			if !more {
				stream.CloseSend()
				return
			}
			if !send(r) {
				return // the stream has ended; Recv returns its status
			}
		}
	}()
	for {
		reply, err := stream.Recv()
		if err == io.EOF {
			if w.finished() {
				return progressed, nil
			}
			return progressed, status.Error(codes.Internal, "the server ended the RunningMedian stream before answering every request")
		}
		if err != nil {
			return progressed, err
		}
		r, ok := w.ackFirst()
		if !ok {
			return progressed, status.Error(codes.Internal, "the server answered more requests than were sent")
		}
		progressed = true
		step := Step{Request: r.seq, Numbers: len(r.numbers), Added: reply.GetAddedCount(),
			Median: Median{SessionID: w.sessionID, Count: reply.GetNumberCount(), Value: reply.GetMedian()}}
		if err := fn(step); err != nil {
			return progressed, callbackError{err}
		}
	}
}
