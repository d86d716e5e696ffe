package mailclient

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// mcScript runs Login against a scripted server: "S:" lines are written
// (several joined by "|" go out in one write), "C:" lines must be read.
// After Login returns, the client side is closed and the script checks
// the client sent nothing more.
func mcScript(t *testing.T, opts *Options, script []string) error {
	t.Helper()
	cli, srv := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	cli.SetDeadline(deadline)
	srv.SetDeadline(deadline)
	defer srv.Close()
	done := make(chan error, 1)
	go func() {
		_, err := Login(context.Background(), cli, opts)
		cli.Close()
		done <- err
	}()
	tp := textproto.NewConn(srv)
	for _, step := range script {
		if line, ok := strings.CutPrefix(step, "C:"); ok {
			got, err := tp.ReadLine()
			require.NoError(t, err)
			require.Equal(t, line, got)
			continue
		}
		out := strings.ReplaceAll(strings.TrimPrefix(step, "S:"), "|", "\r\n") + "\r\n"
		// A client that hangs up early (a too-long line) fails this
		// write; the outcome is checked through Login's error.
		io.WriteString(srv, out)
	}
	err := <-done
	rest, _ := io.ReadAll(srv)
	assert.Empty(t, rest, "the client sent more after failing")
	return err
}

func mcOpts(p sasl.Protocol) *Options {
	return &Options{
		Protocol: p,
		TLS:      &tls.Config{ServerName: "localhost"},
		SASL:     &sasl.ClientConfig{Username: "alice", Password: "secret"},
	}
}

func TestStartTLSStripped(t *testing.T) {
	// Checklist C1/C12: no STARTTLS advertised, a long AUTH list: no
	// credential is sent.
	err := mcScript(t, mcOpts(sasl.IMAP), []string{
		"S:* OK ready", "C:a1 CAPABILITY", "S:* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN|a1 OK"})
	require.ErrorIs(t, err, sasl.ErrStartTLSUnavailable)
	err = mcScript(t, mcOpts(sasl.POP3), []string{
		"S:+OK ready", "C:CAPA", "S:+OK|SASL PLAIN|USER|."})
	require.ErrorIs(t, err, sasl.ErrStartTLSUnavailable)
	err = mcScript(t, mcOpts(sasl.SMTP), []string{
		"S:220 ready", "C:EHLO localhost", "S:250-x|250 AUTH PLAIN LOGIN"})
	require.ErrorIs(t, err, sasl.ErrStartTLSUnavailable)
}

func TestStartTLSRefusedReply(t *testing.T) {
	// Checklist C2: a refusal is never followed by plaintext auth.
	err := mcScript(t, mcOpts(sasl.IMAP), []string{
		"S:* OK ready", "C:a1 CAPABILITY", "S:* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN|a1 OK",
		"C:a2 STARTTLS", "S:a2 NO not now"})
	require.ErrorIs(t, err, sasl.ErrStartTLSRefused)
	err = mcScript(t, mcOpts(sasl.SMTP), []string{
		"S:220 ready", "C:EHLO localhost", "S:250-x|250 STARTTLS", "C:STARTTLS", "S:454 4.7.0 later"})
	require.ErrorIs(t, err, sasl.ErrStartTLSRefused)
	err = mcScript(t, mcOpts(sasl.POP3), []string{
		"S:+OK ready", "C:CAPA", "S:+OK|STLS|.", "C:STLS", "S:-ERR no"})
	require.ErrorIs(t, err, sasl.ErrStartTLSRefused)
}

func TestResponseInjection(t *testing.T) {
	// Checklist C5: responses pipelined after the go-ahead line.
	err := mcScript(t, mcOpts(sasl.IMAP), []string{
		"S:* OK ready", "C:a1 CAPABILITY", "S:* CAPABILITY IMAP4rev1 STARTTLS|a1 OK",
		"C:a2 STARTTLS", "S:a2 OK begin|* CAPABILITY IMAP4rev1 AUTH=PLAIN"})
	require.ErrorIs(t, err, tlsutil.ErrResponseInjection)
	err = mcScript(t, mcOpts(sasl.SMTP), []string{
		"S:220 ready", "C:EHLO localhost", "S:250-x|250 STARTTLS", "C:STARTTLS", "S:220 go|250 AUTH PLAIN"})
	require.ErrorIs(t, err, tlsutil.ErrResponseInjection)
	err = mcScript(t, mcOpts(sasl.POP3), []string{
		"S:+OK ready", "C:CAPA", "S:+OK|STLS|.", "C:STLS", "S:+OK go|+OK"})
	require.ErrorIs(t, err, tlsutil.ErrResponseInjection)
}

func TestBadGreeting(t *testing.T) {
	// Checklist C3/C4: PREAUTH or BYE greetings end the session.
	for _, g := range []string{"* PREAUTH welcome", "* BYE go away", "a1 OK"} {
		err := mcScript(t, mcOpts(sasl.IMAP), []string{"S:" + g})
		require.Error(t, err, g)
	}
	err := mcScript(t, mcOpts(sasl.POP3), []string{"S:-ERR busy"})
	require.Error(t, err)
	err = mcScript(t, mcOpts(sasl.SMTP), []string{"S:554 no"})
	require.Error(t, err)
}

func TestNoMechanismWithoutTLS(t *testing.T) {
	// Without TLS and without InsecureAuth, PLAIN is never chosen even if
	// offered.
	o := mcOpts(sasl.SMTP)
	o.Mode = sasl.InsecurePlaintext
	err := mcScript(t, o, []string{"S:220 ready", "C:EHLO localhost", "S:250-x|250 AUTH PLAIN LOGIN"})
	require.ErrorIs(t, err, sasl.ErrNoMechanism)
}

func TestLongLine(t *testing.T) {
	err := mcScript(t, mcOpts(sasl.POP3), []string{"S:+OK " + strings.Repeat("x", maxLine)})
	require.Error(t, err)
}

// TestLoginCancel: canceling ctx interrupts a Login blocked on a server
// that stopped answering after the negotiation (ctx without a deadline,
// conn without one either).
func TestLoginCancel(t *testing.T) {
	cli, srv := net.Pipe()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := mcOpts(sasl.POP3)
	opts.Mode = sasl.InsecurePlaintext
	opts.SASL.InsecureAuth = true
	done := make(chan error, 1)
	go func() {
		_, err := Login(ctx, cli, opts)
		cli.Close()
		done <- err
	}()
	tp := textproto.NewConn(srv)
	require.NoError(t, srv.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, tp.PrintfLine("+OK ready"))
	line, err := tp.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "CAPA", line)
	require.NoError(t, tp.PrintfLine("+OK\r\nSASL PLAIN\r\n."))
	line, err = tp.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "AUTH PLAIN"), line)
	cancel() // and never answer
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Login did not return after ctx was canceled")
	}
}
