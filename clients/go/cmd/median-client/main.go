// Command median-client sends numbers read from standard input to a median service and prints
// the session's count and median.
//
// Usage:
//
//	median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete] < numbers
//
// Without --session it creates a session with an id of its own and prints session=<id> first.
// The numbers go in requests of at most N numbers over one AddNumbers stream, followed by
// GetMedian; with --running they go over one RunningMedian stream instead, and every answer is
// printed as it arrives. Exit status: 0 on success, 1 on a gRPC error (reported on standard
// error as "error: <CODE>: <message>"), 2 on bad arguments or input.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/medianservice/median/clients/go/gen/median/v1"
)

const (
	// sessionHeader carries the session id on every call, so that a proxy can route on it.
	sessionHeader = "median-session-id"
	unaryTimeout  = 10 * time.Second
	streamTimeout = 600 * time.Second
)

var (
	target        = flag.String("target", "", "the server address in the format host:port (required)")
	session       = flag.String("session", "", "an existing session to add to; without it, a new session is created")
	batchSize     = positiveInt(1000)
	running       = flag.Bool("running", false, "use one RunningMedian stream and print every running median")
	deleteSession = flag.Bool("delete", false, "delete the session at the end")
)

func init() {
	flag.Var(&batchSize, "batch", "send at most `N` numbers per request")
}

// positiveInt is a flag value that takes a decimal integer greater than zero.
type positiveInt int

func (p *positiveInt) String() string { return strconv.Itoa(int(*p)) }

func (p *positiveInt) Set(value string) error {
	n, err := strconv.Atoi(value)
	if err != nil || n <= 0 {
		return errors.New("not a positive integer")
	}
	*p = positiveInt(n)
	return nil
}

func usage() {
	fmt.Fprintf(flag.CommandLine.Output(),
		"usage: %s --target HOST:PORT [--session ID] [--batch N] [--running] [--delete] < numbers\n",
		filepath.Base(os.Args[0]))
	flag.PrintDefaults()
}

// usageError reports a bad command line the way the flag package does: message, usage, exit 2.
func usageError(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}

func main() {
	flag.Usage = usage
	flag.Parse() // exits 2 on an unknown flag, a missing value or a bad --batch
	if *target == "" {
		usageError("flag -target is required")
	}
	if flag.NArg() > 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}

	// All of standard input is read and checked before anything is sent.
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: reading standard input: %v\n", err)
		os.Exit(1)
	}
	numbers, err := parseNumbers(string(input))
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(2)
	}

	// Standard error is for the one error line; gRPC's own logs stay off unless asked for.
	if os.Getenv("GRPC_GO_LOG_SEVERITY_LEVEL") == "" {
		grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	}

	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		usageError("invalid -target %q: %v", *target, err)
	}
	err = run(pb.NewMedianServiceClient(conn), numbers)
	conn.Close()
	if err != nil {
		st, _ := status.FromError(err) // a non-gRPC error becomes UNKNOWN with its own text
		fmt.Fprintf(os.Stderr, "error: %s: %s\n", code.Code(st.Code()), st.Message())
		os.Exit(1)
	}
}

// run makes the session unless one was given, sends the numbers and prints the medians.
func run(client pb.MedianServiceClient, numbers []float64) error {
	sessionID := *session
	if sessionID == "" {
		sessionID = newSessionID()
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), sessionHeader, sessionID)

	if *session == "" {
		if err := createSession(ctx, client, sessionID); err != nil {
			return err
		}
		fmt.Printf("session=%s\n", sessionID)
	}

	requests := batches(numbers, int(batchSize))
	var err error
	if *running {
		err = runRunningMedian(ctx, client, sessionID, requests)
	} else {
		err = runAddNumbers(ctx, client, sessionID, requests)
	}
	if err != nil {
		return err
	}

	if *deleteSession {
		return runDeleteSession(ctx, client, sessionID)
	}
	return nil
}

// newSessionID returns 128 random bits as 22 characters of unpadded base64url.
func newSessionID() string {
	id := make([]byte, 16)
	rand.Read(id) // crypto/rand.Read never returns an error; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(id)
}

func createSession(ctx context.Context, client pb.MedianServiceClient, sessionID string) error {
	ctx, cancel := context.WithTimeout(ctx, unaryTimeout)
	defer cancel()
	_, err := client.CreateSession(ctx, &pb.CreateSessionRequest{SessionId: sessionID})
	return err
}

// runAddNumbers sends every batch over one AddNumbers stream, then prints the session's count
// and, unless it is empty, its median from GetMedian.
func runAddNumbers(ctx context.Context, client pb.MedianServiceClient, sessionID string, batches [][]float64) error {
	streamCtx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	stream, err := client.AddNumbers(streamCtx)
	if err != nil {
		return err
	}
	for _, numbers := range batches {
		err := stream.Send(&pb.AddNumbersRequest{SessionId: sessionID, Numbers: numbers})
		if err == io.EOF {
			break // the server has ended the call; CloseAndRecv returns its status
		}
		if err != nil {
			return err
		}
	}
	reply, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if reply.GetNumberCount() == 0 {
		fmt.Println("count=0")
		return nil
	}

	unaryCtx, cancelUnary := context.WithTimeout(ctx, unaryTimeout)
	defer cancelUnary()
	median, err := client.GetMedian(unaryCtx, &pb.GetMedianRequest{SessionId: sessionID})
	if err != nil {
		return err
	}
	fmt.Printf("count=%d median=%s\n", median.GetNumberCount(), formatMedian(median.GetMedian()))
	return nil
}

// runRunningMedian sends every batch over one RunningMedian stream while printing each answer
// as it arrives.
func runRunningMedian(ctx context.Context, client pb.MedianServiceClient, sessionID string, batches [][]float64) error {
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	defer cancel()
	stream, err := client.RunningMedian(ctx)
	if err != nil {
		return err
	}
	received := make(chan error, 1)
	go func() {
		for {
			reply, err := stream.Recv()
			if err == io.EOF {
				received <- nil
				return
			}
			if err != nil {
				received <- err
				return
			}
			if reply.Median == nil {
				fmt.Printf("count=%d\n", reply.GetNumberCount())
			} else {
				fmt.Printf("count=%d median=%s\n", reply.GetNumberCount(), formatMedian(reply.GetMedian()))
			}
		}
	}()
	for _, numbers := range batches {
		err := stream.Send(&pb.RunningMedianRequest{SessionId: sessionID, Numbers: numbers})
		if err == io.EOF {
			break // the server has ended the call; Recv returns its status
		}
		if err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return <-received
}

func runDeleteSession(ctx context.Context, client pb.MedianServiceClient, sessionID string) error {
	ctx, cancel := context.WithTimeout(ctx, unaryTimeout)
	defer cancel()
	_, err := client.DeleteSession(ctx, &pb.DeleteSessionRequest{SessionId: sessionID})
	return err
}
