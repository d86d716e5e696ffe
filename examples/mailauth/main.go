// Command mailauth logs in to mail servers, audits how they authenticate,
// writes password entries and load-tests logins. It is built on mailauth's
// public API only (packages tlsutil, sasl, sasl/passdb and apop), and is
// the proof that the API serves a real client.
//
//	go install github.com/go-mailauth/mailauth/examples/mailauth@latest
//
// Subcommands (each prints an example with -h):
//
//	mailauth login imaps://alice@mail.example.org     log in; show TLS, mechanism, verification
//	mailauth probe imap://mail.example.org            audit STARTTLS, TLS and mechanisms
//	mailauth pw -s SCRAM-SHA-256                      write a Dovecot passwd-file password field
//	mailauth bench -n 1000 -c 8 imaps://127.0.0.1:993 load-test logins
//
// URLs name the protocol and how TLS starts: imap, pop3 and smtp
// (submission, port 587) use STARTTLS, which is required; imaps, pop3s and
// smtps (ports 993, 995, 465) use implicit TLS (RFC 8314). There is no
// plaintext mode: no credential is ever sent before TLS, and login refuses a
// certificate that does not verify for the host name.
//
// Passwords and tokens come from a terminal prompt without echo, from an
// environment variable (MAILAUTH_PASSWORD, MAILAUTH_TOKEN, or the one
// -password-env and -token-env name) or from a file (-password-file,
// -token-file): never from the command line.
//
// # Exit status
//
//	0  success (pw -t: the password matches)
//	1  any other failure: a file that cannot be read, an internal error
//	2  usage: bad flags or arguments
//	3  authentication refused (wrong password, unknown user, rejected token;
//	   pw -t: the password does not match)
//	4  TLS or certificate failure: handshake, verification, STARTTLS missing,
//	   refused or tampered with
//	5  protocol error: bad greeting or reply, no usable mechanism
//	6  network: cannot connect, connection lost, timeout
//	7  completed with findings: probe found a weakness rated FAIL, or some
//	   bench logins failed
//
// Errors are one line: "mailauth: host: step: cause".
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
)

// Exit codes; see the package doc.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitAuth     = 3
	exitTLS      = 4
	exitProtocol = 5
	exitNetwork  = 6
	exitFindings = 7
)

// cli is what a subcommand may touch of the outside world, so tests run
// the whole command in process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// tty reads a line without echo from the controlling terminal, or
	// returns an error when there is none.
	tty func(prompt string) ([]byte, error)
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
}

var commands = []command{
	{"login", "log in to an IMAP, POP3 or SMTP server and show how", runLogin},
	{"probe", "audit a server's STARTTLS, TLS and authentication", runProbe},
	{"pw", "write or verify a Dovecot passwd-file password field", runPW},
	{"bench", "load-test logins against a server on loopback", runBench},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, tty: readTerminal}
	os.Exit(c.main(ctx, os.Args[1:]))
}

// main runs one subcommand and returns the exit status.
func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		c.usage(c.stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, cmd := range commands {
		if cmd.name != args[0] {
			continue
		}
		err := cmd.run(ctx, c, args[1:])
		if err == nil {
			return exitOK
		}
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		code := exitCode(err)
		var quiet quietError
		if !errors.As(err, &quiet) {
			fmt.Fprintf(c.stderr, "mailauth: %v\n", oneLine(err.Error()))
		}
		return code
	}
	fmt.Fprintf(c.stderr, "mailauth: unknown subcommand %q\n", args[0])
	c.usage(c.stderr)
	return exitUsage
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mailauth <subcommand> [flags] [arguments]")
	fmt.Fprintln(w)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-6s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "mailauth <subcommand> -h shows its flags and an example.")
	fmt.Fprintln(w, "Exit status: 0 ok, 1 failure, 2 usage, 3 authentication refused,")
	fmt.Fprintln(w, "4 TLS or certificate, 5 protocol, 6 network, 7 findings (probe, bench).")
}

// newFlags returns a flag set for subcommand name whose -h output shows
// the synopsis and an example before the flags.
func (c *cli) newFlags(name, synopsis, example string) *flag.FlagSet {
	fs := flag.NewFlagSet("mailauth "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: mailauth %s %s\n\n", name, synopsis)
		fmt.Fprintf(c.stderr, "example:\n%s\n\nflags:\n", example)
		fs.PrintDefaults()
	}
	return fs
}

// oneLine keeps an error message on one line: server text and wrapped
// errors may carry line breaks.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}
