package thirdparty

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the tool in its own process group, so its children can be signalled
// with it. No Pdeathsig: Linux sends it when the *thread* that started the child exits,
// and the Go runtime retires threads, so it killed healthy libtorrent drivers mid-test (seen
// twice in CI as a driver exiting right after start with no error). Cleanup stops the group.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup signals the process group the tool leads.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}
