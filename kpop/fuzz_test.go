package kpop

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/stretchr/testify/require"
)

// -update-corpus rewrites the seed files in testdata/fuzz from fresh
// tokens (minted tickets, so no KDC is needed).
var updateCorpus = flag.Bool("update-corpus", false, "rewrite the kpop fuzz seed corpora")

// fuzzContext is one exchange run to its end, whose messages seed the
// fuzz targets.
type fuzzContext struct {
	a       *Acceptor
	token   []byte // initial context token
	aprep   []byte // GSS AP-REP token
	offer   []byte // server's wrap token
	reply   []byte // client's wrap token
	cli     *gssapiClient
	acc     *accepted
	sendReq []byte // client's sendauth bytes
	recvRep []byte // server's recvauth bytes
}

func newFuzzContext(t testing.TB) *fuzzContext {
	kt := testKeytab(t)
	fc := &fuzzContext{a: testAcceptor(t, kt, nil)}
	creds, _ := testCreds(kt)
	c := NewGSSAPIClient(&ClientConfig{Credentials: creds, Host: testHost}, ServiceIMAP).(*gssapiClient)
	s := fc.a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil).(*gssapiServer)
	var err error
	_, fc.token, err = c.Start()
	require.NoError(t, err)
	fc.aprep, _, err = s.Next(fc.token)
	require.NoError(t, err)
	fc.cli = &gssapiClient{}
	*fc.cli = *c
	in := *c.in
	fc.cli.in = &in
	empty, err := c.Next(fc.aprep)
	require.NoError(t, err)
	fc.offer, _, err = s.Next(empty)
	require.NoError(t, err)
	fc.reply, err = c.Next(fc.offer)
	require.NoError(t, err)
	fc.acc = s.acc

	var out bytes.Buffer
	SendAuth(bytes.NewReader([]byte{sendauthOK}), &out, &ClientConfig{Credentials: creds, Host: testHost})
	fc.sendReq = out.Bytes()
	var sout bytes.Buffer
	_, err = testAcceptor(t, kt, nil).RecvAuth(context.Background(), bytes.NewReader(fc.sendReq), &sout, nil)
	require.NoError(t, err)
	fc.recvRep = sout.Bytes()
	return fc
}

// seed adds b to f and, with -update-corpus, writes it to the corpus.
func seed(f *testing.F, name string, b []byte) {
	f.Add(b)
	if !*updateCorpus {
		return
	}
	dir := filepath.Join("testdata", "fuzz", f.Name())
	require.NoError(f, os.MkdirAll(dir, 0o755))
	content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	require.NoError(f, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
}

// FuzzGSSUnframe: the RFC 2743 framing parser never panics, and what it
// accepts it frames back to the same octets (the length is DER).
func FuzzGSSUnframe(f *testing.F) {
	fc := newFuzzContext(f)
	seed(f, "apreq", fc.token)
	seed(f, "aprep", fc.aprep)
	seed(f, "short", []byte{0x60, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, inner, err := gssUnframe(b)
		if err != nil {
			return
		}
		if !bytes.Equal(gssFrame(tok, inner), b) {
			t.Fatalf("unframe/frame round trip differs")
		}
	})
}

// FuzzGSSAPIServer: a fresh server given any initial token fails cleanly
// or answers with an AP-REP.
func FuzzGSSAPIServer(f *testing.F) {
	fc := newFuzzContext(f)
	seed(f, "token", fc.token)
	seed(f, "truncated", fc.token[:len(fc.token)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		s := fc.a.NewGSSAPIServer(context.Background(), ServiceIMAP, nil)
		chal, done, err := s.Next(b)
		if err == nil && (done || len(chal) > maxTokenLen) {
			t.Fatalf("done=%v after one token, or a %d-octet challenge", done, len(chal))
		}
	})
}

// FuzzWrapReply: the server's check of the client's security-layer
// reply (wrap token parsing, RRC, checksum, sequence) never panics, and
// succeeds only on a token that verifies under the context key.
func FuzzWrapReply(f *testing.F) {
	fc := newFuzzContext(f)
	seed(f, "reply", fc.reply)
	seed(f, "offer", fc.offer)
	seed(f, "header", fc.reply[:wrapHeaderLen])
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &gssapiServer{ctx: context.Background(), a: fc.a, step: sSentOffer, acc: fc.acc}
		_, done, err := s.Next(b)
		if err == nil {
			if !done {
				t.Fatal("reply accepted but not done")
			}
			if _, err := fc.acc.keys.unwrap(b, false, fc.acc.seqRecv); err != nil {
				t.Fatalf("accepted a token that does not verify: %v", err)
			}
		}
	})
}

// FuzzGSSAPIClient: the client's handling of the server's first token
// (AP-REP, KRB-ERROR or anything) never panics.
func FuzzGSSAPIClient(f *testing.F) {
	fc := newFuzzContext(f)
	seed(f, "aprep", fc.aprep)
	seed(f, "offer", fc.offer)
	ke, err := fc.a.krbErrorReply(ServiceIMAP, &krbError{code: codeSkew, kind: ErrClockSkew, msg: "skew"})
	require.NoError(f, err)
	seed(f, "krberror", gssFrame(tokKRBError, ke))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := *fc.cli
		in := *fc.cli.in
		c.in = &in
		resp, err := c.Next(b)
		if err == nil && len(resp) != 0 {
			t.Fatal("non-empty response to an AP-REP")
		}
	})
}

// FuzzRecvAuth: the server side of krb5_sendauth framing never panics,
// never reads past a bound, and replies one octet or nothing before the
// AP-REQ.
func FuzzRecvAuth(f *testing.F) {
	fc := newFuzzContext(f)
	seed(f, "sendauth", fc.sendReq)
	seed(f, "versions", fc.sendReq[:4+19+4+9])
	seed(f, "v4", []byte("AUTHV0.1KPOPV0.1\x00\x00\x00\x10"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		_, err := fc.a.RecvAuth(context.Background(), bytes.NewReader(b), &out, nil)
		if err != nil && out.Len() > 1 && out.Bytes()[0] != 0 {
			t.Fatalf("wrote %d octets after refusing the versions", out.Len())
		}
	})
}

// FuzzSendAuth: the client side of krb5_sendauth given any server
// answer never panics, and succeeds only with a verified AP-REP.
func FuzzSendAuth(f *testing.F) {
	fc := newFuzzContext(f)
	seed(f, "answer", fc.recvRep)
	seed(f, "refused", []byte{2})
	ke, err := fc.a.krbErrorReply(ServicePOP, &krbError{code: codeNotUs, kind: ErrWrongService, msg: "not us"})
	require.NoError(f, err)
	var b bytes.Buffer
	b.WriteByte(0)
	writeMessage(&b, ke)
	seed(f, "krberror", b.Bytes())
	kt := testKeytab(f)
	creds, _ := testCreds(kt)
	f.Fuzz(func(t *testing.T, b []byte) {
		err := SendAuth(bytes.NewReader(b), io.Discard, &ClientConfig{Credentials: creds, Host: testHost})
		if err == nil {
			t.Fatal("accepted an answer made for another AP-REQ")
		}
		_ = sasl.ErrAuthFailed
	})
}
