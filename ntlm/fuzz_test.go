package ntlm

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// seedMessages adds the vector messages and messages of our client,
// our server and go-ntlmssp. Seeds also live in testdata/fuzz/FuzzXxx.
func seedMessages(f *testing.F) {
	v := loadVectors(f)
	for _, s := range []string{v.V1.ChallengeMessage, v.V1.AuthMessage, v.V1CC.ChallengeMessage, v.V1CC.AuthMessage,
		v.V2.ChallengeMessage, v.V2.AuthMessage, v.Win7.ChallengeMessage, v.Win7.AuthMessage} {
		m, _ := hex.DecodeString(s)
		f.Add(m)
	}
	store := hashStore{"tim": Hash("pencil")}
	s := newServer(context.Background(), &ServerConfig{Hashes: store}, nil)
	c := newClient(&ClientConfig{Username: `D\tim`, Password: "pencil", Workstation: "W", TargetName: "imap/x"}, []byte("cb"))
	neg := c.start()
	ch, _, _ := s.next(neg)
	auth, _ := c.next(ch)
	f.Add(neg)
	f.Add(ch)
	f.Add(auth)
	gneg, _ := ntlmssp.NewNegotiateMessage("DOM", "WS")
	f.Add(gneg)
	f.Add([]byte(signature + "\x01\x00\x00\x00\x06\x82\x08\x00"))
}

// within asserts that sub is a subslice of msg.
func within(t *testing.T, msg, sub []byte) {
	t.Helper()
	if len(sub) == 0 {
		return
	}
	if len(sub) > len(msg) || !bytes.Contains(msg, sub) {
		t.Fatalf("field of %d bytes is not inside the %d-byte message", len(sub), len(msg))
	}
}

func FuzzParseNegotiate(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := parseNegotiate(msg)
		if err != nil {
			return
		}
		within(t, msg, m.domain)
		within(t, msg, m.workstation)
		// Whatever it asked for, the CHALLENGE never offers these.
		s := newServer(context.Background(), &ServerConfig{Hashes: hashStore{}}, nil)
		ch, _, err := s.next(msg)
		if err != nil {
			t.Fatalf("server refused a NEGOTIATE the parser accepted: %v", err)
		}
		cm, err := parseChallenge(ch)
		if err != nil {
			t.Fatalf("our CHALLENGE does not parse: %v", err)
		}
		if cm.flags&flagsNeverOffered != 0 {
			t.Fatalf("CHALLENGE offers %#x", cm.flags&flagsNeverOffered)
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	seedMessages(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := parseChallenge(msg)
		if err != nil {
			return
		}
		within(t, msg, m.targetName)
		within(t, msg, m.targetInfo)
		// The client answers every CHALLENGE the parser accepts, or fails
		// cleanly, and what it answers parses.
		c := newClient(&ClientConfig{Username: "tim", Password: "pencil", TargetName: "imap/x"}, []byte("cb"))
		c.start()
		auth, err := c.next(msg)
		if err != nil {
			return
		}
		if _, err := parseAuthenticate(auth); err != nil {
			t.Fatalf("our AUTHENTICATE does not parse: %v", err)
		}
	})
}

func FuzzParseAuthenticate(f *testing.F) {
	seedMessages(f)
	store := hashStore{"tim": Hash("pencil"), "User": Hash("Password")}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := parseAuthenticate(msg)
		if err == nil {
			for _, fld := range [][]byte{m.lm, m.nt, m.domain, m.user, m.workstation, m.sessionKey} {
				within(t, msg, fld)
			}
		}
		// The server refuses or accepts without panicking, and never
		// accepts what the parser refused.
		s := newServer(context.Background(), &ServerConfig{Hashes: store, MaxClockSkew: -1}, []byte("cb"))
		if _, _, err := s.next(newClient(&ClientConfig{}, nil).start()); err != nil {
			t.Fatal(err)
		}
		_, done, serr := s.next(msg)
		if err != nil && (serr == nil || done) {
			t.Fatalf("server accepted a message the parser refused (%v)", err)
		}
	})
}
