package kubetest

import (
	"os"
	"syscall"
)

var terminate os.Signal = syscall.SIGTERM

// sysProcAttr makes the kernel kill etcd and kube-apiserver if the process
// that started them dies without calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
