// Command btt is the command-line face of the Speed BitTorrent client: one binary with
// subcommands (btt create, btt info, ...), each a function with the same signature listed in
// one table, so adding a command is adding a line.
//
// Results go to stdout, errors to stderr. The exit status is 0 on success, 1 on failure
// and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// A command is one subcommand. run gets the arguments after the command's name and writes
// results to stdout; for bad arguments it returns an error wrapping errUsage.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands lists the subcommands in the order usage shows them.
func commands() []command {
	return []command{
		{"create", "make a .torrent file from a file or directory", runCreate},
		{"info", "show what a .torrent file holds", runInfo},
		{"download", "download a torrent, then exit (or keep seeding with --seed)", runDownload},
		{"seed", "serve a torrent whose data is on disk", runSeed},
		{"wallet", "manage a Speed wallet: new, show, balance, faucet, transfer, withdraw, deposit-address, history", runWallet},
		{"bench", "measure: a loopback transfer (ours, and libtorrent's beside it), or N downloaders against a seeder", runBench},
		{"daemon", "host many torrents, driven over Transmission's RPC (transmission-remote, web client)", runDaemon},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a command and returns the exit status. A command's error that
// wraps errUsage is a usage error.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:])
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "btt %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "btt %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "btt: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: btt <command> [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `"btt <command> -h" shows a command's flags.`)
}

// errUsage marks a mistake in how a command was called: run exits with status 2 for any
// error wrapping it.
var errUsage = errors.New("usage")

// usageError returns a usage error with the given message.
func usageError(msg string) error { return fmt.Errorf("%w: %s", errUsage, msg) }

// usagef is usageError with formatting.
func usagef(format string, args ...any) error {
	return usageError(fmt.Sprintf(format, args...))
}

// newFlagSet returns a flag set for a command whose errors go to stderr, with a usage line
// naming the command's positional arguments.
func newFlagSet(name, positional string) *flag.FlagSet {
	fs := flag.NewFlagSet("btt "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: btt %s [flags] %s\n\nflags:\n", name, positional)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterleaved parses flags that may come before, between or after positional arguments
// (users type "btt create DIR -o x.torrent"), and returns the positional ones. Everything
// after a "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError(err.Error())
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}
