// Command median-consumer is a project outside the library's folder that depends on the Go
// client library as any Go project would (require + replace in go.mod). Against the plaintext
// server at TARGET it creates a session, adds 3 1 2 10, prints the median, deletes the session
// and checks that the library then reports NOT_FOUND as its error type.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/medianservice/median/clients/go/median"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: median-consumer HOST:PORT")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run(target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := median.New(target)
	if err != nil {
		return err
	}
	defer client.Close()

	id, err := client.CreateSession(ctx, "") // "": the library chooses the id
	if err != nil {
		return err
	}
	if _, err := client.Add(ctx, id, []float64{3, 1, 2, 10}); err != nil {
		return err
	}
	m, err := client.GetMedian(ctx, id)
	if err != nil {
		return err
	}
	fmt.Println(m) // count=4 median=2.5
	if err := client.DeleteSession(ctx, id); err != nil {
		return err
	}
	_, err = client.GetMedian(ctx, id)
	var failed *median.Error
	if !errors.As(err, &failed) || failed.Code != codes.NotFound {
		return fmt.Errorf("GetMedian after DeleteSession returned %v, want a *median.Error with NOT_FOUND", err)
	}
	fmt.Println("deleted:", median.CodeName(failed.Code))
	return nil
}
