// Logging: one zerolog logger for the command and the plugins it starts
// (their stderr arrives in it under their names), written to stderr in
// zerolog's console format on a terminal and as JSON lines otherwise.

package main

import (
	"fmt"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// defaultLogLevel keeps the plugins' routine chatter (their start, go-plugin's
// debug lines) out of the output; -log-level info or debug shows it.
const defaultLogLevel = "warn"

// newLogger is the logger at level ("trace", "debug", "info", "warn",
// "error"), to stderr.
func newLogger(level string) (zerolog.Logger, error) {
	lv, err := zerolog.ParseLevel(level)
	if err != nil || lv == zerolog.NoLevel {
		return zerolog.Nop(), fmt.Errorf("log level %q: want trace, debug, info, warn or error", level)
	}
	fd := os.Stderr.Fd()
	if isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd) {
		w := zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}
		return zerolog.New(w).Level(lv).With().Timestamp().Logger(), nil
	}
	return zerolog.New(os.Stderr).Level(lv).With().Timestamp().Logger(), nil
}
