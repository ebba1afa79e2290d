package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Command returns a command that runs name inside the host's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs name inside the namespace and returns its combined output; the
// error carries the output too.
func (h *Host) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netlab: %s: %s %s: %w: %s", h.Name, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Process is a background process started by Host.Start.
type Process struct {
	// Cmd is the running command.
	Cmd *exec.Cmd
	// Log is the file that receives its stdout and stderr.
	Log string

	done chan struct{}
	err  error
}

// Start runs name in the background inside the namespace, with stdout and
// stderr going to Lab.Dir/logName. The lab kills it on Close if it still
// runs. It is not tied to ctx's lifetime beyond the start itself.
func (h *Host) Start(ctx context.Context, logName, name string, args ...string) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logPath := filepath.Join(h.Lab.Dir, logName)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	defer f.Close()
	// Exec straight into the namespace (no `ip netns exec` parent), so the
	// PID we hold is the program's own and signals reach it.
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	nsFile, err := os.Open(filepath.Join("/run/netns", h.NS))
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	defer nsFile.Close()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Process{Cmd: cmd, Log: logPath, done: make(chan struct{})}
	err = h.Do(func() error {
		// The child inherits this thread's network namespace.
		return cmd.Start()
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: start %s: %w", h.Name, name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.Lab.mu.Lock()
	closed := h.Lab.closed
	if !closed {
		h.Lab.procs = append(h.Lab.procs, p)
	}
	h.Lab.mu.Unlock()
	if closed {
		p.Kill()
		return nil, errors.New("netlab: lab is closed")
	}
	return p, nil
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits (briefly) for the process to be reaped.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	err := p.Cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	return err
}

// Wait waits up to timeout for the process to exit and returns its exit
// error; it returns os.ErrDeadlineExceeded if it still runs.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return os.ErrDeadlineExceeded
	}
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Do runs fn on a locked OS thread switched into the host's namespace.
// Sockets fn creates stay in that namespace after Do returns, so a dialer
// or listener made here can be used from any goroutine.
func (h *Host) Do(fn func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", h.NS))
	if err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: setns %s: %w", h.NS, err)
			return
		}
		ferr := fn()
		// Only a thread back in its own namespace returns to the pool; if
		// the switch back fails the thread stays locked and exits with
		// this goroutine.
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// DialContext dials from inside the host's namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen opens a listener inside the host's namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a packet socket inside the host's namespace.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}
