package l2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

var (
	testMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	clientMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	testVIP4   = netip.MustParseAddr("192.0.2.200")
	testVIP6   = netip.MustParseAddr("2001:db8:1::200")
	clientIP4  = netip.MustParseAddr("192.0.2.100")
	broadcastM = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func TestParseARPRequest(t *testing.T) {
	req, err := arpFrame(1, broadcastM, clientMAC, clientIP4, zeroMAC, testVIP4)
	if err != nil {
		t.Fatal(err)
	}
	greq, grep, err := gratuitousARP(testMAC, testVIP4)
	if err != nil {
		t.Fatal(err)
	}
	tagged := append(append([]byte{}, req[:12]...), 0x81, 0x00, 0, 1)
	tagged = append(tagged, req[12:]...)
	tests := []struct {
		name   string
		frame  []byte
		ok     bool
		target netip.Addr
	}{
		{name: "request", frame: req, ok: true, target: testVIP4},
		{name: "gratuitous request", frame: greq, ok: true, target: testVIP4},
		{name: "reply", frame: grep},
		{name: "vlan tagged", frame: tagged},
		{name: "short", frame: req[:20]},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseARPRequest(tt.frame)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && got.targetIP != tt.target {
				t.Fatalf("target = %v, want %v", got.targetIP, tt.target)
			}
		})
	}
}

func TestARPReply(t *testing.T) {
	reqFrame, _ := arpFrame(1, broadcastM, clientMAC, clientIP4, zeroMAC, testVIP4)
	req, err := parseARPRequest(reqFrame)
	if err != nil {
		t.Fatal(err)
	}
	b, err := arpReply(req, testMAC, testVIP4)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[0:6], clientMAC) || !bytes.Equal(b[6:12], testMAC) {
		t.Fatalf("ethernet header %x", b[:14])
	}
	// op reply, sender testMAC/VIP, target client
	if b[21] != 2 || !bytes.Equal(b[22:28], testMAC) || !bytes.Equal(b[28:32], testVIP4.AsSlice()) ||
		!bytes.Equal(b[32:38], clientMAC) || !bytes.Equal(b[38:42], clientIP4.AsSlice()) {
		t.Fatalf("bad reply %x", b)
	}
}

func FuzzParseARPRequest(f *testing.F) {
	req, _ := arpFrame(1, broadcastM, clientMAC, clientIP4, zeroMAC, testVIP4)
	greq, grep, _ := gratuitousARP(testMAC, testVIP4)
	f.Add(req)
	f.Add(greq)
	f.Add(grep)
	f.Add(req[:ethHeaderLen+7])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseARPRequest(b)
		if err != nil {
			return
		}
		if !r.targetIP.Is4() || !r.senderIP.Is4() || len(r.senderMAC) != 6 || len(r.srcMAC) != 6 {
			t.Fatalf("accepted malformed request %+v", r)
		}
		// Every accepted request must be answerable.
		if _, err := arpReply(r, testMAC, r.targetIP); err != nil {
			t.Fatalf("reply to %+v: %v", r, err)
		}
	})
}
