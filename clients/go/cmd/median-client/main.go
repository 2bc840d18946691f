// Command median-client sends numbers read from standard input to a median service and prints
// the session's count and median: the command-line client of CLIENTS.md, on top of the library
// in package median.
//
// Usage:
//
//	median-client --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]
//	              [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
//	              [--retry-for SECONDS] < numbers
//
// Without --session it creates a session with an id of its own and prints session=<id> first.
// The numbers go in requests of at most N numbers over AddNumbers, followed by GetMedian; with
// --running they go over RunningMedian instead, and every answer is printed as it arrives,
// once per request even across a resume. After a retryable failure the library resumes for up
// to --retry-for seconds, resending exactly the unacknowledged requests. Exit status: 0 on
// success, 1 on a gRPC error (reported on standard error as "error: <CODE>: <message>" and one
// "detail: ..." line per google.rpc detail), 2 on bad arguments or input.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/medianservice/median/clients/go/median"
)

var (
	target        = flag.String("target", "", "the server address in the format host:port (required)")
	session       = flag.String("session", "", "an existing session to add to; without it, a new session is created")
	batchSize     = positiveInt(median.DefaultBatchSize)
	running       = flag.Bool("running", false, "use RunningMedian and print every running median")
	deleteSession = flag.Bool("delete", false, "delete the session at the end")
	token         = flag.String("token", "", "send `TOKEN` as \"authorization: Bearer TOKEN\" on every call (default: $MEDIAN_TOKEN)")
	tlsCA         = flag.String("tls-ca", "", "connect over TLS, trusting the CA certificates in `FILE` (PEM)")
	tlsCert       = flag.String("tls-cert", "", "present the client certificate in `FILE` (PEM; needs --tls-key)")
	tlsKey        = flag.String("tls-key", "", "the private key of --tls-cert in `FILE` (PEM)")
	retryFor      = seconds(median.DefaultRetryFor)
)

func init() {
	flag.Var(&batchSize, "batch", "send at most `N` numbers per request")
	flag.Var(&retryFor, "retry-for", "resume after retryable failures for up to `SECONDS`; 0 turns resuming off")
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

// seconds is a flag value that takes a non-negative decimal number of seconds.
type seconds time.Duration

func (s *seconds) String() string {
	return strconv.FormatFloat(time.Duration(*s).Seconds(), 'g', -1, 64)
}

func (s *seconds) Set(value string) error {
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v > 1e9 {
		return errors.New("not a number of seconds, 0 or more")
	}
	*s = seconds(time.Duration(v * float64(time.Second)))
	return nil
}

func usage() {
	fmt.Fprintf(flag.CommandLine.Output(),
		"usage: %s --target HOST:PORT [--session ID] [--batch N] [--running] [--delete]\n"+
			"       [--token TOKEN] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--retry-for SECONDS] < numbers\n",
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
	flag.Parse() // exits 2 on an unknown flag, a missing value or a bad --batch / --retry-for
	if *target == "" {
		usageError("flag --target is required")
	}
	if flag.NArg() > 0 {
		usageError("unexpected argument %q", flag.Arg(0))
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		usageError("--tls-cert and --tls-key go together: the client certificate and its key")
	}
	options := []median.Option{
		median.WithBatchSize(int(batchSize)),
		median.WithRetryFor(time.Duration(retryFor)),
		// A unary call may resume for as long as --retry-for says, and then needs its answer.
		median.WithCallTimeout(time.Duration(retryFor) + median.DefaultCallTimeout),
	}
	if *tlsCA != "" {
		options = append(options, median.WithCAFile(*tlsCA))
	}
	if *tlsCert != "" {
		options = append(options, median.WithClientCertificateFiles(*tlsCert, *tlsKey))
	}
	if *token == "" {
		*token = os.Getenv("MEDIAN_TOKEN")
	}
	if *token != "" {
		options = append(options, median.WithToken(*token))
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

	// Standard error is for the error lines; gRPC's own logs stay off unless asked for.
	if os.Getenv("GRPC_GO_LOG_SEVERITY_LEVEL") == "" {
		grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	}

	client, err := median.New(*target, options...)
	if err != nil {
		usageError("%v", err)
	}
	// Unbuffered: each running median is printed as soon as its answer arrives.
	err = run(context.Background(), client, numbers, os.Stdout)
	client.Close()
	if err != nil {
		var failed *median.Error
		if !errors.As(err, &failed) {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "error: %v\n", failed)
		for _, line := range failed.DetailLines() {
			fmt.Fprintf(os.Stderr, "detail: %s\n", line)
		}
		os.Exit(1)
	}
}

// run makes the session unless one was given, sends the numbers and prints the medians.
func run(ctx context.Context, client *median.Client, numbers []float64, out io.Writer) error {
	sessionID := *session
	if sessionID == "" {
		var err error
		if sessionID, err = client.CreateSession(ctx, ""); err != nil {
			return err
		}
		fmt.Fprintf(out, "session=%s\n", sessionID)
	}

	if *running {
		err := client.RunningMediansFunc(ctx, sessionID, slices.Values(numbers), func(step median.Step) error {
			_, err := fmt.Fprintln(out, step.Median)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		result, err := client.Add(ctx, sessionID, numbers)
		if err != nil {
			return err
		}
		if result.Count == 0 {
			fmt.Fprintln(out, "count=0")
		} else {
			m, err := client.GetMedian(ctx, sessionID)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, m)
		}
	}

	if *deleteSession {
		return client.DeleteSession(ctx, sessionID)
	}
	return nil
}
