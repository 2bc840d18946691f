package median

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed call: its gRPC status and the google.rpc details the server attached.
//
// Error() reads "<CODE_NAME>: <message>", for example `NOT_FOUND: session "x" does not exist`.
type Error struct {
	// Code is the gRPC status code, e.g. codes.NotFound.
	Code codes.Code
	// Message is the server's status message (or grpc-go's, for a transport failure).
	Message string
	// FieldViolations are the google.rpc.BadRequest field violations, e.g. field "numbers[3]".
	FieldViolations []*errdetails.BadRequest_FieldViolation
	// QuotaViolations are the google.rpc.QuotaFailure violations (which limit, and why).
	QuotaViolations []*errdetails.QuotaFailure_Violation
	// ErrorInfo holds each google.rpc.ErrorInfo detail (reason, domain, metadata).
	ErrorInfo []*errdetails.ErrorInfo

	status *status.Status
}

// Error returns "<CODE_NAME>: <message>".
func (e *Error) Error() string { return CodeName(e.Code) + ": " + e.Message }

// GRPCStatus returns the status the error was made from (with its details), so that
// status.FromError and status.Code see through an *Error.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// DetailLines describes each google.rpc detail on one line, in the order the command-line
// clients print them: "BadRequest <field>: <description>", "QuotaFailure <subject>:
// <description>", "ErrorInfo <reason> <domain>".
func (e *Error) DetailLines() []string {
	var lines []string
	for _, v := range e.FieldViolations {
		lines = append(lines, fmt.Sprintf("BadRequest %s: %s", v.GetField(), v.GetDescription()))
	}
	for _, v := range e.QuotaViolations {
		lines = append(lines, fmt.Sprintf("QuotaFailure %s: %s", v.GetSubject(), v.GetDescription()))
	}
	for _, info := range e.ErrorInfo {
		lines = append(lines, fmt.Sprintf("ErrorInfo %s %s", info.GetReason(), info.GetDomain()))
	}
	return lines
}

// CodeName is the canonical name of a status code as google.rpc.Code spells it ("NOT_FOUND"),
// which is how every client of this project prints it (grpc-go's own String gives "NotFound").
func CodeName(c codes.Code) string { return code.Code(c).String() }

// IsNotFound reports whether err is a call that failed with NOT_FOUND (e.g. an unknown session).
func IsNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// toError turns any error of a call into an *Error; nil stays nil. A context error becomes
// DEADLINE_EXCEEDED or CANCELLED, anything else that carries no status becomes UNKNOWN.
func toError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return already
	}
	var st *status.Status
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		st = status.FromContextError(err)
	} else {
		st, _ = status.FromError(err)
	}
	e := &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.BadRequest:
			e.FieldViolations = append(e.FieldViolations, d.GetFieldViolations()...)
		case *errdetails.QuotaFailure:
			e.QuotaViolations = append(e.QuotaViolations, d.GetViolations()...)
		case *errdetails.ErrorInfo:
			e.ErrorInfo = append(e.ErrorInfo, d)
		}
	}
	return e
}
