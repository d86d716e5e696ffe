//go:build interop

package interop

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/examples/mailserver"
	"github.com/go-mailauth/mailauth/sasl"
)

// ourMail is our loopback mail server (examples/mailserver, i.e. our
// server-side exchange) on 127.0.0.1: IMAP, POP3 and submission, each on a
// plaintext port offering STARTTLS/STLS and an implicit-TLS port.
type ourMail struct {
	PKI                                   *testPKI
	IMAP, IMAPS, POP3, POP3S, SMTP, SMTPS int
	servers                               []*mailserver.Server
	users                                 map[string]string
}

// ourToken is the bearer token our servers accept for user.
func ourToken(user string) string { return "interop-token-for-" + user }

// ourTokens verifies ourToken values.
type ourTokens struct{}

func (ourTokens) VerifyToken(_ context.Context, user, token string) (string, error) {
	for u := range peerUsers {
		// constant time: a token is a secret
		if hmac.Equal([]byte(token), []byte(ourToken(u))) && (user == "" || user == u) {
			return u, nil
		}
	}
	return "", fmt.Errorf("interop tokens: %w", sasl.ErrAuthFailed)
}

// ourExternal accepts a verified client certificate; its CN is the user.
type ourExternal struct{}

func (ourExternal) VerifyExternal(_ context.Context, conn *sasl.ConnState, authzid string) (string, error) {
	if conn.TLS() == nil || len(conn.TLS().VerifiedChains) == 0 {
		return "", fmt.Errorf("interop external: no verified client certificate: %w", sasl.ErrAuthFailed)
	}
	cn := conn.TLS().VerifiedChains[0][0].Subject.CommonName
	if authzid != "" && authzid != cn {
		return "", fmt.Errorf("interop external: %w", sasl.ErrAuthzFailed)
	}
	return cn, nil
}

var ourMailOnce struct {
	once sync.Once
	m    *ourMail
	err  error
}

// startOurMail returns the binary's loopback mail servers, starting them
// on first use. They are closed by stopSharedPeers.
func startOurMail(t *testing.T) *ourMail {
	t.Helper()
	pki := sharedPKI(t)
	ourMailOnce.once.Do(func() {
		m := &ourMail{PKI: pki}
		st := memStore{users: peerUsers}
		scfg := &sasl.ServerConfig{SCRAMSecret: []byte("test scram secret"),
			Passwords: st,
			Plaintext: st,
			DigestMD5: st,
			SCRAM:     st,
			Tokens:    ourTokens{},
			External:  ourExternal{},
			Anonymous: func(context.Context, string) error { return nil },
			Hostname:  "localhost",
			Legacy:    true, // the peers speak LOGIN, CRAM-MD5, DIGEST-MD5 too
			Extra:     []sasl.ServerMechanism{ourNTLM()},
		}
		apopCfg := &apop.ServerConfig{Plaintext: st, Hostname: "localhost"}
		cfg := &mailserver.Config{
			SASL:     scfg,
			TLS:      pki.serverTLS(0),
			Hostname: "localhost",
			APOP:     func() (mailserver.APOPServer, error) { return apop.NewServer(apopCfg) },
		}
		for _, p := range []struct {
			proto      sasl.Protocol
			plain, tls *int
		}{{sasl.IMAP, &m.IMAP, &m.IMAPS}, {sasl.POP3, &m.POP3, &m.POP3S}, {sasl.SMTP, &m.SMTP, &m.SMTPS}} {
			srv := mailserver.New(p.proto, cfg)
			m.servers = append(m.servers, srv)
			for i, port := range []*int{p.plain, p.tls} {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					ourMailOnce.err = err
					return
				}
				*port = ln.Addr().(*net.TCPAddr).Port
				if i == 0 {
					go srv.Serve(ln)
				} else {
					go srv.ServeTLS(ln)
				}
			}
		}
		ourMailOnce.m = m
		shared.mu.Lock()
		shared.stops = append(shared.stops, func() {
			for _, s := range m.servers {
				s.Close()
			}
		})
		shared.mu.Unlock()
	})
	if ourMailOnce.err != nil {
		t.Fatalf("our mail servers: %v", ourMailOnce.err)
	}
	return ourMailOnce.m
}

func (m *ourMail) addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
