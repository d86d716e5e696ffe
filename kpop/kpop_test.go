package kpop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/textproto"
	"testing"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kpopPair runs ServeKPOP on one end of a pipe and returns the client's
// textproto.Conn and a channel with the server's outcome.
func kpopPair(t *testing.T, a *Acceptor) (*textproto.Conn, <-chan kpopResult) {
	t.Helper()
	sc, cc := net.Pipe()
	t.Cleanup(func() { sc.Close(); cc.Close() })
	res := make(chan kpopResult, 1)
	go func() {
		tp := textproto.NewConn(sc)
		id, err := a.ServeKPOP(context.Background(), tp, nil, "KPOP server ready")
		if err == nil {
			// The TRANSACTION state: one command, to show tp is in step.
			line, rerr := tp.ReadLine()
			if rerr == nil && line == "QUIT" {
				tp.PrintfLine("+OK bye")
			}
		}
		sc.Close()
		res <- kpopResult{id, err}
	}()
	return textproto.NewConn(cc), res
}

type kpopResult struct {
	id  sasl.Identity
	err error
}

func TestKPOPRoundTrip(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	creds, _ := testCreds(kt)
	tp, res := kpopPair(t, a)
	greeting, err := LoginKPOP(tp, &ClientConfig{Credentials: creds, Host: testHost}, "")
	require.NoError(t, err)
	assert.Equal(t, "+OK KPOP server ready", greeting)
	require.NoError(t, tp.PrintfLine("QUIT"))
	line, err := tp.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "+OK bye", line)
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, sasl.Identity{Mechanism: KPOPName, Username: "alice"}, r.id)
}

// TestKPOPFraming checks the client's bytes against krb5_sendauth's
// (research/kerberos.md §1.2, as fetchmail sends them): the two version
// messages with their NULs, then the length-prefixed raw AP-REQ with
// ap-options mutual-required and an authenticator without checksum,
// subkey or sequence number; and the server's: one zero octet, four zero
// octets, the length-prefixed AP-REP.
func TestKPOPFraming(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	creds, _ := testCreds(kt)

	// Client bytes, with a canned server reply that ends after the
	// version step.
	var out bytes.Buffer
	err := SendAuth(bytes.NewReader([]byte{sendauthOK}), &out, &ClientConfig{Credentials: creds, Host: testHost})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the canned reply ends after the version octet")
	b := out.Bytes()
	want := append([]byte{0, 0, 0, 0x13}, "KRB5_SENDAUTH_V1.0\x00"...)
	want = append(append(want, 0, 0, 0, 9), "KPOPV1.0\x00"...)
	require.True(t, bytes.HasPrefix(b, want), "% x", b[:min(len(b), 40)])
	rest := b[len(want):]
	n := binary.BigEndian.Uint32(rest)
	require.Equal(t, int(n), len(rest)-4)
	apreq := rest[4:]
	assert.Equal(t, byte(0x6e), apreq[0], "raw AP-REQ, [APPLICATION 14], no GSS framing")

	ap, err := parseAPReq(apreq)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 0, 0, 0}, ap.APOptions.Bytes, "ap-options mutual-required")
	acc, err := a.accept(context.Background(), apreq, ServicePOP, nil, false)
	require.NoError(t, err)
	assert.Zero(t, acc.apreq.Authenticator.Cksum.CksumType, "no checksum")
	assert.Zero(t, acc.apreq.Authenticator.SubKey.KeyType, "no subkey")
	assert.Zero(t, acc.apreq.Authenticator.SeqNumber, "no sequence number")

	// Server bytes for a fresh AP-REQ.
	out.Reset()
	require.Error(t, SendAuth(bytes.NewReader([]byte{sendauthOK}), &out, &ClientConfig{Credentials: creds, Host: testHost}))
	var sout bytes.Buffer
	_, err = a.RecvAuth(context.Background(), bytes.NewReader(out.Bytes()), &sout, nil)
	require.NoError(t, err)
	s := sout.Bytes()
	require.Equal(t, []byte{0, 0, 0, 0, 0}, s[:5], "version accepted, AP-REQ accepted")
	n = binary.BigEndian.Uint32(s[5:])
	require.Equal(t, int(n), len(s)-9)
	assert.Equal(t, byte(0x6f), s[9], "raw AP-REP, [APPLICATION 15]")
}

func TestKPOPRefusals(t *testing.T) {
	kt := testKeytab(t)
	a := testAcceptor(t, kt, nil)
	msg := func(s string) []byte {
		var b bytes.Buffer
		writeMessage(&b, []byte(s))
		return b.Bytes()
	}
	t.Run("bad sendauth version", func(t *testing.T) {
		var out bytes.Buffer
		_, err := a.RecvAuth(context.Background(), bytes.NewReader(msg("KRB5_SENDAUTH_V0.9\x00")), &out, nil)
		require.ErrorIs(t, err, ErrSendauth)
		assert.Equal(t, []byte{1}, out.Bytes())
	})
	t.Run("bad application version", func(t *testing.T) {
		var out bytes.Buffer
		in := append(msg("KRB5_SENDAUTH_V1.0\x00"), msg("KPOPV0.1\x00")...)
		_, err := a.RecvAuth(context.Background(), bytes.NewReader(in), &out, nil)
		require.ErrorIs(t, err, ErrSendauth)
		assert.Equal(t, []byte{2}, out.Bytes())
	})
	t.Run("huge length", func(t *testing.T) {
		var out bytes.Buffer
		_, err := a.RecvAuth(context.Background(), bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff}), &out, nil)
		require.ErrorIs(t, err, sasl.ErrTooLarge)
		assert.Empty(t, out.Bytes())
	})
	t.Run("server refuses the versions", func(t *testing.T) {
		creds, _ := testCreds(kt)
		for _, b := range []byte{1, 2, 7} {
			err := SendAuth(bytes.NewReader([]byte{b}), io.Discard, &ClientConfig{Credentials: creds, Host: testHost})
			require.ErrorIs(t, err, ErrSendauth)
		}
	})
	t.Run("wrong service gets a KRB-ERROR", func(t *testing.T) {
		creds, m := testCreds(kt)
		m.spn = "imap/" + testHost
		tp, res := kpopPair(t, a)
		_, err := LoginKPOP(tp, &ClientConfig{Credentials: creds, Host: testHost}, "")
		require.ErrorIs(t, err, ErrKRBError)
		assert.Contains(t, err.Error(), "code 35", "KRB_AP_ERR_NOT_US")
		require.ErrorIs(t, (<-res).err, ErrWrongService)
	})
	t.Run("replay gets a KRB-ERROR", func(t *testing.T) {
		creds, _ := testCreds(kt)
		var out bytes.Buffer
		SendAuth(bytes.NewReader([]byte{sendauthOK}), &out, &ClientConfig{Credentials: creds, Host: testHost})
		_, err := a.RecvAuth(context.Background(), bytes.NewReader(out.Bytes()), io.Discard, nil)
		require.NoError(t, err)
		var sout bytes.Buffer
		_, err = a.RecvAuth(context.Background(), bytes.NewReader(out.Bytes()), &sout, nil)
		require.ErrorIs(t, err, ErrReplay)
		s := sout.Bytes()
		require.Equal(t, byte(0), s[0])
		require.NoError(t, krbErrorFromReply(t, s[1:], codeRepeat))
	})
	t.Run("tampered AP-REP", func(t *testing.T) {
		creds, _ := testCreds(kt)
		// A fake server: the real acceptor's AP-REP, one bit flipped.
		sc, cc := net.Pipe()
		defer sc.Close()
		defer cc.Close()
		go func() {
			readMessage(sc, maxVersionLen)
			readMessage(sc, maxVersionLen)
			sc.Write([]byte{sendauthOK})
			apreq, err := readMessage(sc, maxTokenLen)
			if err != nil {
				return
			}
			acc, err := a.accept(context.Background(), apreq, ServicePOP, nil, false)
			if err != nil {
				return
			}
			acc.aprep[len(acc.aprep)-2] ^= 1
			sc.Write([]byte{0, 0, 0, 0})
			writeMessage(sc, acc.aprep)
		}()
		require.ErrorIs(t, SendAuth(cc, cc, &ClientConfig{Credentials: creds, Host: testHost}), ErrIntegrity)
	})
	t.Run("USER of another user", func(t *testing.T) {
		creds, _ := testCreds(kt)
		tp, res := kpopPair(t, a)
		_, err := LoginKPOP(tp, &ClientConfig{Credentials: creds, Host: testHost}, "bob")
		require.ErrorIs(t, err, sasl.ErrAuthFailed)
		assert.Contains(t, err.Error(), "Wrong username supplied")
		tp.Close()
		<-res
	})
	t.Run("dialogue", func(t *testing.T) {
		creds, _ := testCreds(kt)
		tp, res := kpopPair(t, a)
		require.NoError(t, SendAuth(tp.R, tp.W, &ClientConfig{Credentials: creds, Host: testHost}))
		for _, step := range []struct{ send, want string }{
			{"", "+OK KPOP server ready"},
			{"CAPA", "+OK Capability list follows"},
			{"", "USER"},
			{"", "."},
			{"PASS x", "-ERR USER first"},
			{"STAT", "-ERR Not in the AUTHORIZATION state"},
			{"USER bob", "-ERR Wrong username supplied"},
			{"PASS x", "-ERR USER first"},
			{"user alice", "+OK"},
			{"PASS anything", "+OK Kerberos V5 authentication accepted"},
		} {
			if step.send != "" {
				require.NoError(t, tp.PrintfLine("%s", step.send))
			}
			line, err := tp.ReadLine()
			require.NoError(t, err)
			assert.Equal(t, step.want, line, "after %q", step.send)
		}
		tp.Close()
		r := <-res
		require.NoError(t, r.err)
		assert.Equal(t, "alice", r.id.Username)
	})
	t.Run("QUIT", func(t *testing.T) {
		creds, _ := testCreds(kt)
		tp, res := kpopPair(t, a)
		require.NoError(t, SendAuth(tp.R, tp.W, &ClientConfig{Credentials: creds, Host: testHost}))
		tp.ReadLine()
		tp.PrintfLine("QUIT")
		line, _ := tp.ReadLine()
		assert.Equal(t, "+OK", line)
		require.ErrorIs(t, (<-res).err, ErrQuit)
	})
}

// krbErrorFromReply checks b is a length-prefixed KRB-ERROR with code.
func krbErrorFromReply(t *testing.T, b []byte, code int32) error {
	t.Helper()
	m, err := readMessage(bufio.NewReader(bytes.NewReader(b)), maxTokenLen)
	require.NoError(t, err)
	err = krbErrorText(m)
	require.ErrorIs(t, err, ErrKRBError)
	assert.Contains(t, err.Error(), "code "+itoa(code))
	return nil
}

func itoa(n int32) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

// TestKPOPLocalUserError: a LocalUser error is returned unchanged to the
// server's caller, and the client gets a KRB-ERROR without its text.
func TestKPOPLocalUserError(t *testing.T) {
	kt := testKeytab(t)
	dbErr := errors.New("user database down at db.internal:5432")
	a := testAcceptor(t, kt, func(cfg *ServerConfig) {
		cfg.LocalUser = func(context.Context, Principal) (string, error) { return "", dbErr }
	})
	creds, _ := testCreds(kt)
	tp, res := kpopPair(t, a)
	_, err := LoginKPOP(tp, &ClientConfig{Credentials: creds, Host: testHost}, "")
	require.ErrorIs(t, err, ErrKRBError)
	assert.NotContains(t, err.Error(), "db.internal")
	require.ErrorIs(t, (<-res).err, dbErr)
}
