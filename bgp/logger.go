package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger adapts GoBGP's logger interface to *slog.Logger and feeds
// the messages that explain a session's trouble into the session's status.
// GoBGP only formats its connection-failure messages at debug level, so the
// adapter reports debug level while the session is not established (cheap:
// a handful of messages per connect attempt) and slog's own level after.
type gobgpLogger struct {
	log *slog.Logger
	// sink receives errors worth showing in PeerStatus.LastError. It is
	// swapped when a server is reused for a new session.
	sink atomic.Pointer[statusSink]
}

// statusSink is where a session collects its last error and learns whether
// it is established; the logger must not block, so both are atomics.
type statusSink struct {
	peer        string
	lastErr     atomic.Pointer[string]
	held        atomic.Pointer[string] // why the session is held down; wins over lastErr
	established atomic.Bool
}

func (s *statusSink) setErr(msg string) { s.lastErr.Store(&msg) }

func (s *statusSink) err() string {
	if p := s.held.Load(); p != nil {
		return *p
	}
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

var _ gobgplog.Logger = (*gobgpLogger)(nil)

func (l *gobgpLogger) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	sink := l.sink.Load()
	if sink != nil {
		switch msg {
		case "failed to connect":
			sink.setErr(fmt.Sprintf("connect: %v", fields["Error"]))
		case "Peer Down":
			sink.setErr(fmt.Sprintf("session down: %v", fields["Reason"]))
		case "sent notification", "received notification":
			sink.setErr(fmt.Sprintf("%s: %v", msg, fields["Data"]))
		case "failed to resolve local address":
			sink.setErr("cannot use the source address")
		}
	}
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields)+1)
	if sink != nil {
		attrs = append(attrs, slog.String("peer", sink.peer))
	}
	for k, v := range fields {
		if k == gobgplog.FieldFacility {
			continue
		}
		attrs = append(attrs, slog.Any(strings.ToLower(k), v))
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

func (l *gobgpLogger) Panic(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Fatal(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Error(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { l.emit(slog.LevelWarn, msg, f) }
func (l *gobgpLogger) Info(msg string, f gobgplog.Fields)  { l.emit(slog.LevelInfo, msg, f) }
func (l *gobgpLogger) Debug(msg string, f gobgplog.Fields) { l.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the level follows the slog handler.
func (l *gobgpLogger) SetLevel(gobgplog.LogLevel) {}

func (l *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	if sink := l.sink.Load(); sink != nil && !sink.established.Load() {
		return gobgplog.DebugLevel
	}
	if l.log.Enabled(context.Background(), slog.LevelInfo) {
		return gobgplog.InfoLevel
	}
	return gobgplog.WarnLevel
}
