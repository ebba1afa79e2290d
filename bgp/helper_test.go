package bgp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/bgp"
	"github.com/lbkit/lbkit/internal/netlab"
)

// The end-to-end tests run each node's speaker in its own process inside
// the node's namespace (GoBGP dials from goroutines of its own, so it
// cannot share a process with speakers of other namespaces): the test
// binary itself, started with helperEnv set, driven by JSON lines on stdin.
const helperEnv = "LBKIT_BGP_HELPER"

type helperConfig struct {
	RouterID              netip.Addr
	GracefulShutdownDelay time.Duration
}

type helperRequest struct {
	Peers    []announce.BGPPeer     `json:",omitempty"`
	Announce *announce.Announcement `json:",omitempty"`
	Withdraw string                 `json:",omitempty"`
	Status   bool                   `json:",omitempty"`
}

type helperResponse struct {
	Error  string           `json:",omitempty"`
	Status []bgp.PeerStatus `json:",omitempty"`
}

func TestMain(m *testing.M) {
	if c := os.Getenv(helperEnv); c != "" {
		os.Exit(runHelper(c))
	}
	os.Exit(m.Run())
}

func runHelper(conf string) int {
	var hc helperConfig
	if err := json.Unmarshal([]byte(conf), &hc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sp, err := bgp.New(bgp.Config{Logger: log, RouterID: hc.RouterID, GracefulShutdownDelay: hc.GracefulShutdownDelay})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	go func() {
		enc := json.NewEncoder(os.Stdout)
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var req helperRequest
			var resp helperResponse
			err := json.Unmarshal(sc.Bytes(), &req)
			switch {
			case err != nil:
			case req.Peers != nil:
				err = sp.SetPeers(ctx, req.Peers)
			case req.Announce != nil:
				err = sp.Announce(ctx, *req.Announce)
			case req.Withdraw != "":
				err = sp.Withdraw(ctx, req.Withdraw)
			case req.Status:
				resp.Status = sp.Status()
			}
			if err == nil && !req.Status {
				err = sp.Flush(ctx)
			}
			if err != nil {
				resp.Error = err.Error()
			}
			enc.Encode(resp)
		}
	}()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// speakerProc is a helper speaker running in a lab host.
type speakerProc struct {
	host *netlab.Host
	cmd  *exec.Cmd
	mu   sync.Mutex
	in   io.WriteCloser
	out  *bufio.Scanner
	done chan struct{}
	err  error
}

func startSpeakerProc(t *testing.T, h *netlab.Host, hc helperConfig) *speakerProc {
	t.Helper()
	conf, _ := json.Marshal(hc)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(conf))
	logf, err := os.Create(filepath.Join(h.Lab.Dir, "speaker-"+h.Name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Do(cmd.Start); err != nil {
		t.Fatal(err)
	}
	p := &speakerProc{host: h, cmd: cmd, in: in, out: bufio.NewScanner(out), done: make(chan struct{})}
	p.out.Buffer(make([]byte, 1<<20), 1<<20)
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(); logTail(t, logf.Name()) })
	return p
}

func logTail(t *testing.T, path string) {
	if !t.Failed() {
		return
	}
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	t.Logf("%s:\n%s", filepath.Base(path), b)
}

func (p *speakerProc) call(t *testing.T, req helperRequest) helperResponse {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	b, _ := json.Marshal(req)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		t.Fatalf("%s: speaker gone: %v", p.host.Name, err)
	}
	if !p.out.Scan() {
		t.Fatalf("%s: speaker gone: %v", p.host.Name, p.out.Err())
	}
	var resp helperResponse
	if err := json.Unmarshal(p.out.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Error != "" {
		t.Fatalf("%s: %s", p.host.Name, resp.Error)
	}
	return resp
}

func (p *speakerProc) setPeers(t *testing.T, peers ...announce.BGPPeer) {
	t.Helper()
	p.call(t, helperRequest{Peers: peers})
}

func (p *speakerProc) announce(t *testing.T, a announce.Announcement) {
	t.Helper()
	p.call(t, helperRequest{Announce: &a})
}

func (p *speakerProc) withdraw(t *testing.T, svc string) {
	t.Helper()
	p.call(t, helperRequest{Withdraw: svc})
}

func (p *speakerProc) status(t *testing.T, name string) bgp.PeerStatus {
	t.Helper()
	for _, st := range p.call(t, helperRequest{Status: true}).Status {
		if st.Name == name {
			return st
		}
	}
	return bgp.PeerStatus{}
}

// kill sends SIGKILL by PID and reaps the process.
func (p *speakerProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// stop sends SIGTERM (a planned stop) and waits for the exit.
func (p *speakerProc) stop(t *testing.T, timeout time.Duration) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s: speaker did not exit in %v", p.host.Name, timeout)
	}
}

var syscallTERM = syscall.SIGTERM
