package sasl

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"testing"
)

// BenchmarkClientCapabilities reads one capability reply with our bounded
// readers, beside textproto's unbounded reader on the same bytes (the floor:
// ours must not cost much more than a plain ReadLine loop).
func BenchmarkClientCapabilities(b *testing.B) {
	ehlo := cliEhloReply([]string{"PIPELINING", "SIZE 35882577", "ETRN", "STARTTLS",
		"AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"})
	imap := "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES " +
		"THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS " +
		"LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS " +
		"BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE " +
		"AUTH=PLAIN AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-256-PLUS\r\na1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
	pop3 := "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n.\r\n"
	conn := func(s string) *textproto.Conn { return cliFuzzText([]byte(s)) }
	b.Run("proto=smtp/side=client", cliBench(func() {
		if _, err := SMTPEhlo(conn(ehlo), "localhost"); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("proto=smtp/raw=textproto", cliBench(func() {
		if _, _, err := conn(ehlo).ReadResponse(250); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("proto=imap/side=client", cliBench(func() {
		if _, err := IMAPCapabilities(conn(imap), "a1"); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("proto=imap/raw=textproto", cliBench(func() {
		tp := conn(imap)
		for range 2 {
			line, err := tp.ReadLine()
			if err != nil {
				b.Fatal(err)
			}
			_ = strings.Fields(line)
		}
	}))
	b.Run("proto=pop3/side=client", cliBench(func() {
		if _, err := POP3Capabilities(conn(pop3)); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("proto=pop3/raw=textproto", cliBench(func() {
		tp := conn(pop3)
		if _, err := tp.ReadLine(); err != nil {
			b.Fatal(err)
		}
		if _, err := tp.ReadDotLines(); err != nil {
			b.Fatal(err)
		}
	}))
}

// BenchmarkNegotiateClient runs a whole STARTTLS negotiation against the
// scripted server over net.Pipe, beside a bare TLS handshake on the same
// transport: the difference is the cost of the protocol and its checks.
func BenchmarkNegotiateClient(b *testing.B) {
	pki := cliNewTestPKI(b)
	run := func(script func(*cliServer), client func(net.Conn) error) func() {
		return func() {
			cconn, sconn := net.Pipe()
			pump := cliNewPumpConn(sconn)
			s := &cliServer{pump: pump, conn: pump, r: bufio.NewReader(pump), pki: pki}
			done := make(chan error, 1)
			go func() { script(s); done <- s.err }()
			if err := client(cconn); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			cconn.Close()
			sconn.Close()
		}
	}
	negotiate := func(p Protocol) func(net.Conn) error {
		return func(c net.Conn) error {
			_, err := NegotiateClient(context.Background(), c, ClientOptions{Protocol: p, TLSConfig: pki.clientTLS()})
			return err
		}
	}
	b.Run("proto=imap/mode=starttls", cliBench(run(cliGoodIMAP("IMAP4rev1 STARTTLS", "IMAP4rev1 AUTH=PLAIN"), negotiate(IMAP))))
	b.Run("proto=smtp/mode=starttls", cliBench(run(cliGoodSMTP([]string{"STARTTLS"}, []string{"AUTH PLAIN"}), negotiate(SMTP))))
	b.Run("proto=pop3/mode=starttls", cliBench(run(cliGoodPOP3([]string{"STLS"}, []string{"SASL PLAIN"}), negotiate(POP3))))
	b.Run("raw=tls-handshake", cliBench(run(func(s *cliServer) { s.startTLS(pki.good) }, func(c net.Conn) error {
		return tls.Client(c, pki.clientTLS()).Handshake()
	})))
}

// cliBench wraps f as a benchmark body (the sasl package's bench helper).
func cliBench(f func()) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f()
		}
	}
}
