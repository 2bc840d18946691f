// Package gencheck holds the test that the committed stubs in gen/ are what the pinned
// generators make of protos/median/v1/median.proto today.
package gencheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestStubsAreUpToDate regenerates the stubs into a temporary folder with `make generate`
// (the pinned protoc-gen-go and protoc-gen-go-grpc of go.mod, and tools/protoc) and compares
// them byte for byte with the committed ones.
func TestStubsAreUpToDate(t *testing.T) {
	module, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	make := exec.Command("make", "-C", module, "generate", "GEN_OUT="+out)
	if output, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make generate failed: %v\n%s", err, output)
	}
	const dir = "gen/median/v1"
	for _, name := range []string{"median.pb.go", "median_grpc.pb.go"} {
		fresh, err := os.ReadFile(filepath.Join(out, dir, name))
		if err != nil {
			t.Fatalf("the generators made no %s: %v", name, err)
		}
		committed, err := os.ReadFile(filepath.Join(module, dir, name))
		if err != nil {
			t.Fatalf("%s/%s is not committed: %v", dir, name, err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s/%s is out of date with the proto; run `make -C clients/go generate` and commit it", dir, name)
		}
	}
	entries, err := os.ReadDir(filepath.Join(out, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("the generators made %d files in %s, the test compares 2", len(entries), dir)
	}
}
