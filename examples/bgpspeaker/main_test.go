package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lbkit/lbkit/announce"
)

func TestParsePeer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    announce.BGPPeer
		wantErr bool
	}{
		{"plain", "192.0.2.1,asn=64500", announce.BGPPeer{Name: "peer1", MyASN: 64512, ASN: 64500, Address: netip.MustParseAddr("192.0.2.1")}, false},
		{"options", "2001:db8:1::1,name=r6,dynamic=external,port=1179,password=x,multihop,dualstack,gr,vrf=red,hold=9s,keepalive=3s,connect=1s",
			announce.BGPPeer{Name: "r6", MyASN: 64512, Dynamic: announce.DynamicExternal, Address: netip.MustParseAddr("2001:db8:1::1"), Port: 1179,
				Password: "x", EBGPMultiHop: true, DualStack: true, GracefulRestart: true, VRF: "red",
				HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: time.Second}, false},
		{"bad address", "router,asn=1", announce.BGPPeer{}, true},
		{"unknown option", "192.0.2.1,colour=blue", announce.BGPPeer{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePeer(tt.in, 64512, 0)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
