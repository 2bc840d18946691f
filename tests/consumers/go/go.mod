module example.com/median-consumer

go 1.25.0

require (
	github.com/medianservice/median/clients/go v0.0.0
	google.golang.org/grpc v1.84.0
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The library is used from this repository's folder, the way a project vendors a fork or works
// on both at once; without this line, `go get github.com/medianservice/median/clients/go` would
// fetch a tagged version instead.
replace github.com/medianservice/median/clients/go => ../../../clients/go
