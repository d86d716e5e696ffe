package sasl_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"

	"github.com/go-mailauth/mailauth/sasl"
)

// ExampleExchange runs both sides of SMTP AUTH PLAIN over an in-memory
// connection: the server parses the AUTH line, runs the exchange and writes
// the reply chosen from the outcome; the client sends the command and reads
// that reply.
func ExampleExchange() {
	srvConn, cliConn := net.Pipe()
	defer srvConn.Close()
	defer cliConn.Close()
	// Each exchange is bounded: ctx's deadline interrupts a peer that
	// stops answering.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	verify := func(identity, username, password string) error {
		if username == "alice" && password == "secret" {
			return nil
		}
		return sasl.ErrAuthFailed
	}

	// Server: one AUTH command, as a command loop would dispatch it.
	go func() {
		conn := textproto.NewConn(srvConn)
		x := &sasl.Exchange{Protocol: sasl.SMTP}
		for {
			// sasl.ReadLine, not conn.ReadLine: a command line is
			// bounded (RFC 5321, Section 4.5.3.1.4: 512 octets).
			line, err := sasl.ReadLine(conn.R, 512)
			if err != nil {
				return
			}
			args, _ := strings.CutPrefix(line, "AUTH ")
			mech, ir, err := sasl.ParseAuthCommand(args)
			if err == nil && mech != "PLAIN" {
				err = sasl.ErrUnsupportedMechanism
			}
			if err == nil {
				err = x.Serve(ctx, conn, srvConn, gosasl.NewPlainServer(verify), ir)
			}
			x.WriteResult(conn, err)
		}
	}()

	// Client.
	conn := textproto.NewConn(cliConn)
	x := &sasl.Exchange{Protocol: sasl.SMTP}
	err := x.Authenticate(ctx, conn, cliConn, gosasl.NewPlainClient("", "alice", "wrong"))
	fmt.Println(errors.Is(err, sasl.ErrAuthFailed), err)
	err = x.Authenticate(ctx, conn, cliConn, gosasl.NewPlainClient("", "alice", "secret"))
	fmt.Println(err)
	// Output:
	// true sasl: SMTP server refused authentication: 535 5.7.8 Authentication credentials invalid
	// <nil>
}

// ExampleParseAuthCommand shows the three forms of an initial response.
func ExampleParseAuthCommand() {
	for _, args := range []string{"PLAIN", "anonymous =", "PLAIN AGFsaWNlAHNlY3JldA==", "PLAIN not-base64"} {
		mech, ir, err := sasl.ParseAuthCommand(args)
		fmt.Printf("%s %q %v %v\n", mech, ir, ir == nil, err)
	}
	// Output:
	// PLAIN "" true <nil>
	// ANONYMOUS "" false <nil>
	// PLAIN "\x00alice\x00secret" false <nil>
	//  "" true sasl: malformed message: invalid base64
}
