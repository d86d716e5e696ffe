package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/go-mailauth/mailauth/examples/mailserver"
	"github.com/go-mailauth/mailauth/kpop"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// kerberos is maild's Kerberos side (package kpop), on when -keytab is
// given: GSSAPI on the IMAP, POP3 and SMTP servers, and KPOP on a port of
// its own.
type kerberos struct {
	acc   *kpop.Acceptor
	host  string // service host: imap/host, pop/host, smtp/host
	realm string
	kpop  net.Listener
}

// newKerberos loads the keytab and makes the acceptor for host in realm.
// If realm is "", it is the realm of the keytab's first key for a service
// on host.
func newKerberos(keytabFile, host, realm string) (*kerberos, error) {
	kt, err := keytab.Load(keytabFile)
	if err != nil {
		return nil, fmt.Errorf("keytab: %w", err)
	}
	if realm == "" {
		for _, e := range kt.Entries {
			if len(e.Principal.Components) == 2 && e.Principal.Components[1] == host {
				realm = e.Principal.Realm
				break
			}
		}
	}
	acc, err := kpop.NewAcceptor(&kpop.ServerConfig{Keytab: kt, Host: host, Realm: realm})
	if err != nil {
		return nil, err
	}
	return &kerberos{acc: acc, host: host, realm: realm}, nil
}

// config returns cfg for proto with GSSAPI added, or cfg itself when k is
// nil.
func (k *kerberos) config(cfg *mailserver.Config, proto sasl.Protocol) *mailserver.Config {
	if k == nil {
		return cfg
	}
	c := *cfg
	sc := *cfg.SASL
	sc.Extra = append(slices.Clone(sc.Extra), k.acc.ServerMechanism(krbService(proto)))
	if sc.Mechanisms != nil {
		sc.Mechanisms = append(slices.Clone(sc.Mechanisms), kpop.GSSAPI)
	}
	c.SASL = &sc
	return &c
}

func krbService(p sasl.Protocol) string {
	switch p {
	case sasl.IMAP:
		return kpop.ServiceIMAP
	case sasl.POP3:
		return kpop.ServicePOP
	}
	return kpop.ServiceSMTP
}

// serveKPOP listens for KPOP on 127.0.0.1:port (0: any free port) and
// serves an empty maildrop to whoever authenticates.
func (k *kerberos) serveKPOP(port int) error {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	k.kpop = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go k.kpopSession(c)
		}
	}()
	return nil
}

// kpopSession runs one KPOP session: krb5_recvauth, the greeting, the
// dummy USER/PASS, then the TRANSACTION state of an empty maildrop.
func (k *kerberos) kpopSession(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	tp := textproto.NewConn(c)
	if _, err := k.acc.ServeKPOP(context.Background(), tp, c.RemoteAddr(), "maild KPOP ready"); err != nil {
		return
	}
	for {
		line, err := sasl.ReadLine(tp.R, 512)
		if err != nil {
			return
		}
		cmd, _, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "QUIT":
			tp.PrintfLine("+OK bye")
			return
		case "STAT":
			err = tp.PrintfLine("+OK 0 0")
		case "LIST", "UIDL":
			err = tp.PrintfLine("+OK 0 messages\r\n.")
		case "NOOP", "RSET":
			err = tp.PrintfLine("+OK")
		default:
			err = tp.PrintfLine("-ERR No such message or command")
		}
		if err != nil {
			return
		}
	}
}

// Close stops the KPOP listener.
func (k *kerberos) Close() {
	if k != nil && k.kpop != nil {
		k.kpop.Close()
	}
}

// printUsage prints client command lines that work against d's servers:
// MIT kinit for the ticket, then curl, gsasl and fetchmail. The servers
// listen on 127.0.0.1 while the tickets name the service host, so curl is
// told where the host is (--connect-to) and gsasl which name to use.
func (k *kerberos) printUsage(w io.Writer, d *demo) {
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	imap, pop3, smtp := d.plain[sasl.IMAP], d.plain[sasl.POP3], d.plain[sasl.SMTP]
	user := "alice@" + k.realm
	fmt.Fprintf(w, "\nKerberos: GSSAPI for imap/%[1]s, pop/%[1]s and smtp/%[1]s in realm %[2]s (no TLS needed)\n", k.host, k.realm)
	fmt.Fprintf(w, "  kinit %s   # with KRB5_CONFIG naming the realm's KDC; any principal of the realm logs in as its name\n", user)
	for _, s := range []struct{ scheme, addr, extra string }{{"imap", imap, ""}, {"pop3", pop3, ""}, {"smtp", smtp, " -X NOOP"}} {
		fmt.Fprintf(w, "  curl -v -u '%s:' --login-options AUTH=GSSAPI --connect-to %s:%s:%s %s://%s:%s/%s\n",
			user, k.host, port(s.addr), s.addr, s.scheme, k.host, port(s.addr), s.extra)
	}
	fmt.Fprintf(w, "  gsasl --imap --connect=%s --no-starttls -m GSSAPI --hostname=%s --service=imap -a alice\n", imap, k.host)
	fmt.Fprintf(w, "  gsasl --smtp --connect=%s --no-starttls -m GSSAPI --hostname=%s --service=smtp -a alice\n", smtp, k.host)
	if k.host == "127.0.0.1" || k.host == "localhost" {
		fmt.Fprintf(w, "  fetchmail -v -c -f /dev/null -p POP3 -P %s --auth gssapi -u alice --sslproto '' %s\n", port(pop3), k.host)
	}
	if k.kpop != nil {
		kp := port(k.kpop.Addr().String())
		if k.host != "127.0.0.1" && k.host != "localhost" {
			fmt.Fprintf(w, "KPOP (krb5_sendauth \"KPOPV1.0\", pop/%s) on %s; fetchmail connects to the service host, which must reach it\n", k.host, k.kpop.Addr())
			return
		}
		fmt.Fprintf(w, "KPOP (krb5_sendauth \"KPOPV1.0\", pop/%s) on %s\n", k.host, k.kpop.Addr())
		fmt.Fprintf(w, "  fetchmail sends its dummy PASS only when the service is named kpop: map it to %s in a private /etc/services (as root):\n", kp)
		fmt.Fprintf(w, "  cp /etc/services /tmp/services && echo 'kpop %s/tcp' >> /tmp/services && unshare -m sh -c 'mount --bind /tmp/services /etc/services && fetchmail -v -c -f /dev/null -p kpop -u alice --sslproto \"\" %s'\n", kp, k.host)
	}
}

// errNeedsServe: -keytab, like -passwd, is for -serve.
var errNeedsServe = errors.New("-keytab needs -serve (the demo logs in as its own user, without Kerberos)")
