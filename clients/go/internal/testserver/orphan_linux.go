package testserver

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel SIGKILL the server when the test process dies, so that a test
// binary killed by its timeout leaves no server behind (t.Cleanup does not run then).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
