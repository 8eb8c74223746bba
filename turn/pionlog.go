package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs bridges pion/turn's logging to slog. Every pion message goes out
// at Debug whatever pion's own level: its "errors" are mostly about one
// client's bad packet (an unknown channel, a failed read after close) and
// would flood an Info log under attack. Trace is dropped.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) msg(s string) { l.log.Debug(s) }

// msgf formats only when Debug is on: pion logs every relayed packet.
func (l pionLogger) msgf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)                     {}
func (pionLogger) Tracef(string, ...any)            {}
func (l pionLogger) Debug(s string)                 { l.msg(s) }
func (l pionLogger) Debugf(format string, a ...any) { l.msgf(format, a...) }
func (l pionLogger) Info(s string)                  { l.msg(s) }
func (l pionLogger) Infof(format string, a ...any)  { l.msgf(format, a...) }
func (l pionLogger) Warn(s string)                  { l.msg(s) }
func (l pionLogger) Warnf(format string, a ...any)  { l.msgf(format, a...) }
func (l pionLogger) Error(s string)                 { l.msg(s) }
func (l pionLogger) Errorf(format string, a ...any) { l.msgf(format, a...) }
