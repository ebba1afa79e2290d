package netlab

import (
	"io"
	"net"
	"sync"
	"time"
)

// Forward listens on listenAddr inside the host's namespace and relays
// each connection to target, dialled from the calling process's own
// namespace. It lets programs in a lab namespace reach a server on the
// root namespace's loopback (a test's kube-apiserver) without routing the
// lab to the root namespace. It returns the listener's address; stop
// closes the listener and every relayed connection.
func (h *Host) Forward(listenAddr, target string) (addr net.Addr, stop func(), err error) {
	ln, err := h.Listen("tcp", listenAddr)
	if err != nil {
		return nil, nil, err
	}
	var (
		mu    sync.Mutex // guards conns, done
		conns = map[net.Conn]struct{}{}
		done  bool
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if done {
			c.Close()
			return false
		}
		conns[c] = struct{}{}
		return true
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			if !track(in) || !track(out) {
				in.Close()
				out.Close()
				continue
			}
			wg.Add(2)
			relay := func(dst, src net.Conn) {
				defer wg.Done()
				io.Copy(dst, src)
				// Half-close so the other direction can drain, then close.
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
			}
			go relay(out, in)
			go relay(in, out)
		}
	}()
	stop = func() {
		ln.Close()
		mu.Lock()
		done = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	return ln.Addr(), stop, nil
}
