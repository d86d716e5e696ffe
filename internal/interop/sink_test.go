//go:build interop

package interop

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"time"
)

// sinkMaxLine bounds one SMTP line the sink reads (RFC 5321, Section
// 4.5.3.1.6 allows 1000 octets; text lines of messages may be longer).
const sinkMaxLine = 64 << 10

// smtpSink is the tiny SMTP server Dovecot's submission relays to
// (submission_relay_host): it accepts every envelope and counts messages.
type smtpSink struct {
	Port int
	l    net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	msgs []string
}

func startSMTPSink() (*smtpSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &smtpSink{l: l, Port: l.Addr().(*net.TCPAddr).Port}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	return s, nil
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriter(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		return w.Flush() == nil
	}
	readLine := func() (string, bool) {
		var b []byte
		for {
			chunk, isPrefix, err := r.ReadLine()
			if err != nil {
				return "", false
			}
			b = append(b, chunk...)
			if len(b) > sinkMaxLine {
				return "", false
			}
			if !isPrefix {
				return string(b), true
			}
		}
	}
	if !reply("220 localhost interop sink ESMTP") {
		return
	}
	for {
		line, ok := readLine()
		if !ok {
			return
		}
		verb, _, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "LHLO":
			ok = reply("250-localhost", "250-8BITMIME", "250-PIPELINING", "250 SIZE 10485760")
		case "HELO":
			ok = reply("250 localhost")
		case "MAIL", "RCPT", "RSET", "NOOP":
			ok = reply("250 2.0.0 Ok")
		case "DATA":
			if !reply("354 End data with <CR><LF>.<CR><LF>") {
				return
			}
			var msg strings.Builder
			for {
				l, ok := readLine()
				if !ok {
					return
				}
				if l == "." {
					break
				}
				msg.WriteString(strings.TrimPrefix(l, ".") + "\n")
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, msg.String())
			s.mu.Unlock()
			ok = reply("250 2.0.0 Ok: queued")
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			ok = reply("502 5.5.2 Command not implemented")
		}
		if !ok {
			return
		}
	}
}

// Messages returns the number of messages relayed so far.
func (s *smtpSink) Messages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Close stops the sink and waits for its connections.
func (s *smtpSink) Close() {
	s.l.Close()
	s.wg.Wait()
}
