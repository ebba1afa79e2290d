// Command lbkit is lbkit's reference binary: MetalLB's two components in
// one executable, chosen by a subcommand.
//
//	lbkit controller [flags]   allocate addresses to LoadBalancer Services
//	lbkit speaker [flags]      announce them from this node (L2 and BGP)
//
// Both read the metallb.io configuration of one namespace (default
// metallb-system), log JSON to stderr and serve Prometheus metrics and
// /healthz. SIGTERM or SIGINT stops them gracefully. Run `lbkit CMD -h`
// for the flags; examples/deploy holds the manifests that run it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

const usage = `usage: lbkit <command> [flags]

commands:
  controller   allocate addresses to LoadBalancer Services (one active replica)
  speaker      announce the addresses from this node (run on every node)

Run "lbkit <command> -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	cmd, err := parseCommand(os.Args[1:], os.Getenv, os.Stderr)
	if err == nil {
		// client-go logs (leader election, reflectors) through klog's
		// global logger; set once here, before any client exists.
		klog.SetSlogLogger(cmd.log)
		err = cmd.run(ctx)
	}
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "lbkit:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "lbkit:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// command is a parsed command line, ready to run.
type command struct {
	log *slog.Logger
	run func(context.Context) error
}

// parseCommand parses args. getenv supplies the environment defaults;
// logs and usage go to stderr.
func parseCommand(args []string, getenv func(string) string, stderr io.Writer) (command, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return command{}, usageError{errors.New("a command is required")}
	}
	switch args[0] {
	case "controller":
		o, err := parseController(args[1:], getenv, stderr)
		if err != nil {
			return command{}, flagError(err)
		}
		log := newLogger(stderr, o.logLevel, "controller")
		return command{log: log, run: func(ctx context.Context) error { return runController(ctx, o, log) }}, nil
	case "speaker":
		o, err := parseSpeaker(args[1:], getenv, stderr)
		if err != nil {
			return command{}, flagError(err)
		}
		log := newLogger(stderr, o.logLevel, "speaker")
		return command{log: log, run: func(ctx context.Context) error { return runSpeaker(ctx, o, log) }}, nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return command{}, flag.ErrHelp
	default:
		fmt.Fprint(stderr, usage)
		return command{}, usageError{fmt.Errorf("unknown command %q", args[0])}
	}
}

// run parses args and runs the command until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cmd, err := parseCommand(args, getenv, stderr)
	if err != nil {
		return err
	}
	return cmd.run(ctx)
}

func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}
