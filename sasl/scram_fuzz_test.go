package sasl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// scramFuzzErr checks that err is one this package promises: a sentinel or
// a *SCRAMError, with no secret in its text.
func scramFuzzErr(t *testing.T, err error) {
	var se *SCRAMError
	if errors.As(err, &se) {
		return
	}
	for _, s := range []error{ErrMalformed, ErrTooLarge, ErrAuthFailed, ErrChannelBinding, ErrUnexpectedClientResponse, ErrUnexpectedServerChallenge} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no sentinel: %v", err)
}

// FuzzSCRAMServer feeds a client-first-message and a
// client-final-message to a SCRAM-SHA-256 server holding the RFC 7677
// user, with the RFC's server nonce. Only the RFC's messages may succeed.
func FuzzSCRAMServer(f *testing.F) {
	vs := scramLoadExchanges(f)
	v := vs[1]
	for _, w := range vs {
		f.Add([]byte(w.ClientFirst), []byte(w.ClientFinal))
	}
	f.Add([]byte("p=tls-unique,a=x=2Cy,n=user,r=abc,ext=1"), []byte("c=biws,r=x,p=AAAA"))
	f.Add([]byte("n,,m=ext,n=user,r=abc"), []byte(""))
	f.Add([]byte("y,,n=nobody,r=abc"), []byte(strings.Replace(v.ClientFinal, ",p=", ",x=1,p=", 1)))
	st := &scramTestStore{}
	st.add(v.Mech, v.User, scramVectorCreds(f, v))
	cfg := &ServerConfig{SCRAM: st, SCRAMSecret: []byte("fuzz")}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		st.calls = st.calls[:0]
		s, err := NewSCRAMServer(context.Background(), cfg, v.Mech, nil)
		if err != nil {
			t.Fatal(err)
		}
		inner(s).(*scramServer).nonce = v.ServerNonce
		chal, done, err := s.Next(first)
		if err != nil {
			if !done {
				t.Fatal("error without done")
			}
			scramFuzzErr(t, err)
			return
		}
		if done || (first != nil && !scramPrintableASCII(chal)) {
			t.Fatalf("bad server-first %q", chal)
		}
		chal, done, err = s.Next(final)
		if err != nil {
			scramFuzzErr(t, err)
			return
		}
		if done {
			t.Fatal("done before the final response")
		}
		if first == nil {
			return // final was the client-first-message
		}
		// Success means the proof verified: only possible with the RFC's
		// client-first-message-bare and the proof computed over it.
		if !bytes.HasSuffix(first, []byte(v.ClientFirst[3:])) || !bytes.HasPrefix(chal, []byte("v=")) {
			t.Fatalf("unexpected success: %q %q", first, final)
		}
		if _, done, err = s.Next([]byte{}); !done {
			t.Fatal("not done")
		}
	})
}

func scramPrintableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// FuzzSCRAMClient feeds a server-first-message and a server-final-message
// to a SCRAM-SHA-256 client with the RFC 7677 nonce and password.
func FuzzSCRAMClient(f *testing.F) {
	vs := scramLoadExchanges(f)
	v := vs[1]
	for _, w := range vs {
		f.Add([]byte(w.ServerFirst), []byte(w.ServerFinal))
	}
	f.Add([]byte("m=x,"+v.ServerFirst), []byte("e=invalid-proof"))
	f.Add([]byte(v.ServerFirst+",x=ext"), []byte(v.ServerFinal+",x=1"))
	f.Add([]byte(strings.Replace(v.ServerFirst, "4096", "99999999999999999999", 1)), []byte("v="))
	cache := &SCRAMCache{}
	cfg := &ClientConfig{Username: v.User, Password: v.Password, MaxIterations: 8192, SCRAMCache: cache}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		c, err := NewSCRAMClient(v.Mech, cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		innerClient(c).(*scramClient).nonce = v.ClientNonce
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next(first)
		if err != nil {
			scramFuzzErr(t, err)
			return
		}
		if !bytes.HasPrefix(resp, []byte("c=biws,r="+v.ClientNonce)) {
			t.Fatalf("bad client-final %q", resp)
		}
		resp, err = c.Next(final)
		if err != nil {
			scramFuzzErr(t, err)
			return
		}
		if len(resp) != 0 || !bytes.HasPrefix(final, []byte("v=")) {
			t.Fatalf("accepted %q", final)
		}
	})
}

// FuzzParseSCRAMCredentials: what parses formats back to a string that
// parses to the same value, in both syntaxes.
func FuzzParseSCRAMCredentials(f *testing.F) {
	f.Add("{SCRAM-SHA-256}4096,7Vgh79H1cHnNxI6PyWLN4g==,rVg0mcxT9ZkV/b6DpXbuKb43pXPQoPIqOM85QqqdcHE=,/FjchjHq8Kx20MmoSXvWbqSLURgt6pXUPwDFtSJxTus=")
	f.Add("{SCRAM-SHA-1}4096,kYusLo40bmjeMlhz8SonSQ==,JDoPZLs5zwycn9to1P3YrArKi6I=,juMKhM0jG+4PLsbHsLaxoc6UskI=")
	f.Add("SCRAM-SHA-1$4096:kYusLo40bmjeMlhz8SonSQ==$JDoPZLs5zwycn9to1P3YrArKi6I=:juMKhM0jG+4PLsbHsLaxoc6UskI=")
	f.Add("{SCRAM-SHA-512}1,AA==,,")
	f.Fuzz(func(t *testing.T, s string) {
		mech, c, err := ParseSCRAMCredentials(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		for _, out := range []string{c.Format(mech), c.AuthPassword(mech)} {
			mech2, c2, err := ParseSCRAMCredentials(out)
			if err != nil || mech2 != mech || c2.Iterations != c.Iterations ||
				!bytes.Equal(c2.Salt, c.Salt) || !bytes.Equal(c2.StoredKey, c.StoredKey) || !bytes.Equal(c2.ServerKey, c.ServerKey) {
				t.Fatalf("%q → %q does not round-trip: %v", s, out, err)
			}
		}
	})
}

// FuzzSASLprep: SASLprep never panics, returns valid UTF-8, leaves
// printable ASCII alone, and the query profile accepts all it accepts.
func FuzzSASLprep(f *testing.F) {
	for _, s := range []string{"päss wörd", "pa\u0308ss", "ｐａｓｓ", "I\u00adX", "\u2168", "a\u00a0b", "\ufb01le", "user", "\u0627a", "a\U0001F600", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := SASLprep(s)
		q, qerr := saslprepQuery(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if !utf8.ValidString(out) {
			t.Fatalf("SASLprep(%q) = %q, not UTF-8", s, out)
		}
		if saslprepASCII(s) && out != s {
			t.Fatalf("ASCII changed: %q → %q", s, out)
		}
		if qerr != nil || q != out {
			t.Fatalf("query profile differs on %q: %q %v", s, q, qerr)
		}
	})
}
