package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbkit/lbkit/membership"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseControllerDefaults(t *testing.T) {
	o, err := parseController(nil, env(map[string]string{"POD_NAME": "lbkit-controller-abc"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := controllerOptions{
		commonOptions: commonOptions{namespace: "metallb-system", metricsAddr: ":7472", logLevel: slog.LevelInfo, qps: 200, burst: 400},
		leaderElect:   true, leaseName: "lbkit-controller", identity: "lbkit-controller-abc", workers: 8,
	}
	if o != want {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
	o, err = parseController(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if host, _ := os.Hostname(); o.identity != host {
		t.Errorf("identity without $POD_NAME = %q, want the host name %q", o.identity, host)
	}
}

func TestParseController(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(controllerOptions) bool
		wantErr string
	}{
		{name: "all flags", args: []string{"-kubeconfig=/k", "-namespace=lb", "-lb-class=x.io/lb", "-metrics-addr=127.0.0.1:9000",
			"-log-level=debug", "-kube-api-qps=50", "-kube-api-burst=60", "-leader-elect=false", "-lease-name=l", "-identity=me",
			"-workers=2", "-install-crds"},
			check: func(o controllerOptions) bool {
				return o == controllerOptions{commonOptions: commonOptions{kubeconfig: "/k", namespace: "lb", lbClass: "x.io/lb",
					metricsAddr: "127.0.0.1:9000", logLevel: slog.LevelDebug, qps: 50, burst: 60},
					leaderElect: false, leaseName: "l", identity: "me", workers: 2, installCRDs: true}
			}},
		{name: "metrics off", args: []string{"-metrics-addr="}, check: func(o controllerOptions) bool { return o.metricsAddr == "" }},
		{name: "no client limit", args: []string{"-kube-api-qps=-1", "-kube-api-burst=0"}, check: func(o controllerOptions) bool { return o.qps < 0 }},
		{name: "warn level", args: []string{"-log-level=WARN"}, check: func(o controllerOptions) bool { return o.logLevel == slog.LevelWarn }},
		{name: "bad level", args: []string{"-log-level=loud"}, wantErr: "log-level"},
		{name: "empty namespace", args: []string{"-namespace="}, wantErr: "-namespace"},
		{name: "zero burst", args: []string{"-kube-api-burst=0"}, wantErr: "-kube-api-burst"},
		{name: "zero workers", args: []string{"-workers=0"}, wantErr: "-workers"},
		{name: "no lease name", args: []string{"-lease-name="}, wantErr: "leader election"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-node-name=n"}, wantErr: "node-name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseController(tt.args, env(map[string]string{"POD_NAME": "p"}), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("unexpected options %+v", o)
			}
		})
	}
}

func TestParseSpeakerDefaults(t *testing.T) {
	o, err := parseSpeaker(nil, env(map[string]string{"NODE_NAME": "node1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := speakerOptions{
		commonOptions: commonOptions{namespace: "metallb-system", metricsAddr: ":7473", logLevel: slog.LevelInfo, qps: 200, burst: 400},
		nodeName:      "node1",
		mlBind:        netip.MustParseAddrPort("0.0.0.0:7946"),
		mlLabels:      "app.kubernetes.io/name=lbkit,app.kubernetes.io/component=speaker",
		mlProfile:     membership.ProfileLAN,
		secretSrc:     "none",
		l2:            true, bgp: true,
	}
	if !equalSpeaker(o, want) {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
}

func equalSpeaker(a, b speakerOptions) bool {
	return a.commonOptions == b.commonOptions && a.nodeName == b.nodeName && a.mlBind == b.mlBind &&
		bytes.Equal(a.mlKey, b.mlKey) && a.mlLabels == b.mlLabels && a.mlProfile == b.mlProfile &&
		a.routerID == b.routerID && a.gshutDelay == b.gshutDelay && a.secretSrc == b.secretSrc &&
		strings.Join(a.mlJoinPeers, ",") == strings.Join(b.mlJoinPeers, ",") && a.l2 == b.l2 && a.bgp == b.bgp
}

func TestParseSpeaker(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secretkey")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key := sha256.Sum256([]byte("s3cret"))
	envKey := sha256.Sum256([]byte("from-env"))
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(speakerOptions) bool
		wantErr string
	}{
		{name: "node name flag beats env", args: []string{"-node-name=n2"}, env: map[string]string{"NODE_NAME": "n1"},
			check: func(o speakerOptions) bool { return o.nodeName == "n2" }},
		{name: "no node name", env: map[string]string{}, wantErr: "-node-name"},
		{name: "bind address sets router id", args: []string{"-ml-bind-addr=192.0.2.11", "-ml-bind-port=7947"},
			check: func(o speakerOptions) bool {
				return o.mlBind == netip.MustParseAddrPort("192.0.2.11:7947") && o.routerID == netip.MustParseAddr("192.0.2.11")
			}},
		{name: "bind address from env", env: map[string]string{"NODE_NAME": "n", "METALLB_ML_BIND_ADDR": "2001:db8::11"},
			check: func(o speakerOptions) bool {
				return o.mlBind == netip.MustParseAddrPort("[2001:db8::11]:7946") && !o.routerID.IsValid()
			}},
		{name: "explicit router id", args: []string{"-ml-bind-addr=192.0.2.11", "-router-id=10.0.0.1"},
			check: func(o speakerOptions) bool { return o.routerID == netip.MustParseAddr("10.0.0.1") }},
		{name: "IPv6 router id", args: []string{"-router-id=2001:db8::1"}, wantErr: "-router-id"},
		{name: "bad bind address", args: []string{"-ml-bind-addr=node1"}, wantErr: "-ml-bind-addr"},
		{name: "bad bind port", args: []string{"-ml-bind-port=70000"}, wantErr: "-ml-bind-port"},
		{name: "secret file", args: []string{"-ml-secret-file=" + secretFile},
			check: func(o speakerOptions) bool { return bytes.Equal(o.mlKey, key[:]) && o.secretSrc == secretFile }},
		{name: "secret file from env beats secret env", env: map[string]string{"NODE_NAME": "n", "METALLB_ML_SECRET_KEY_PATH": secretFile, "METALLB_ML_SECRET_KEY": "from-env"},
			check: func(o speakerOptions) bool { return bytes.Equal(o.mlKey, key[:]) }},
		{name: "secret env", env: map[string]string{"NODE_NAME": "n", "METALLB_ML_SECRET_KEY": "from-env"},
			check: func(o speakerOptions) bool { return bytes.Equal(o.mlKey, envKey[:]) && len(o.mlKey) == 32 }},
		{name: "missing secret file", args: []string{"-ml-secret-file=" + filepath.Join(dir, "nope")}, wantErr: "memberlist secret"},
		{name: "empty secret file", args: []string{"-ml-secret-file=" + emptyFile}, wantErr: "empty"},
		{name: "join list", args: []string{"-ml-join= 192.0.2.12:7946, 192.0.2.13:7946,"},
			check: func(o speakerOptions) bool {
				return strings.Join(o.mlJoinPeers, " ") == "192.0.2.12:7946 192.0.2.13:7946"
			}},
		{name: "fast profile", args: []string{"-ml-profile=fast"}, check: func(o speakerOptions) bool { return o.mlProfile == membership.ProfileFastLAN }},
		{name: "bad profile", args: []string{"-ml-profile=wan"}, wantErr: "-ml-profile"},
		{name: "bgp only", args: []string{"-l2=false"}, check: func(o speakerOptions) bool { return !o.l2 && o.bgp }},
		{name: "nothing to do", args: []string{"-l2=false", "-bgp=false"}, wantErr: "nothing to do"},
		{name: "gshut delay", args: []string{"-bgp-gshut-delay=3s"}, check: func(o speakerOptions) bool { return o.gshutDelay.Seconds() == 3 }},
		{name: "controller flag", args: []string{"-leader-elect=false"}, wantErr: "leader-elect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = map[string]string{"NODE_NAME": "n"}
			}
			o, err := parseSpeaker(tt.args, env(e), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("unexpected options %+v", o)
			}
		})
	}
}

func TestRunCommandLine(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		usage     bool // a usageError
		help      bool // flag.ErrHelp
		wantInOut string
	}{
		{name: "no command", usage: true, wantInOut: "commands:"},
		{name: "unknown command", args: []string{"allocate"}, usage: true, wantInOut: "commands:"},
		{name: "help", args: []string{"help"}, help: true, wantInOut: "speaker"},
		{name: "controller help", args: []string{"controller", "-h"}, help: true, wantInOut: "-leader-elect"},
		{name: "speaker help", args: []string{"speaker", "-h"}, help: true, wantInOut: "-ml-secret-file"},
		{name: "bad controller flag", args: []string{"controller", "-workers=x"}, usage: true},
		{name: "speaker without node", args: []string{"speaker"}, usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), tt.args, env(nil), &out)
			if got := errors.As(err, new(usageError)); got != tt.usage {
				t.Errorf("err = %v, usage error: %v, want %v", err, got, tt.usage)
			}
			if got := errors.Is(err, flag.ErrHelp); got != tt.help {
				t.Errorf("err = %v, help: %v, want %v", err, got, tt.help)
			}
			if !strings.Contains(out.String(), tt.wantInOut) {
				t.Errorf("output does not contain %q:\n%s", tt.wantInOut, out.String())
			}
		})
	}
}
