package kpop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mitVector is an initial context token made by MIT's GSS-API initiator
// (Cyrus SASL's GSSAPI plugin, through sasl-sample-client), with the
// service keytab and the time it was made: an independent
// implementation's token, replayed without a KDC.
type mitVector struct {
	Comment string    `json:"comment"`
	Realm   string    `json:"realm"`
	Host    string    `json:"host"`
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	Keytab  []byte    `json:"keytab"`
	Token   []byte    `json:"token"`
}

const mitVectorFile = "testdata/gssapi/mit-initial-token.json"

var recordMIT = flag.Bool("record-mit", false, "record "+mitVectorFile+" with a KDC and sasl-sample-client")

// TestRecordMITVector records the vector (with -record-mit).
func TestRecordMITVector(t *testing.T) {
	if !*recordMIT {
		t.Skip("run with -record-mit to re-record " + mitVectorFile)
	}
	k := startKDC(t)
	ktFile := k.KeytabFile(t, "imap/"+kdcHost)
	ktBytes, err := os.ReadFile(ktFile)
	require.NoError(t, err)
	cc := k.Kinit(t, "alice", "alice-pw")
	cmd := exec.Command("sasl-sample-client", "-m", "GSSAPI", "-s", "imap", "-n", kdcHost, "-a", "alice")
	cmd.Env = append(k.Env(), "KRB5CCNAME="+cc)
	cmd.Stdin = strings.NewReader("S: " + base64.StdEncoding.EncodeToString([]byte("GSSAPI")) + "\n")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	now := time.Now().UTC()
	cmd.Run() // it fails when stdin ends; the first response is all we need
	var tok []byte
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if b, ok := strings.CutPrefix(sc.Text(), "C: "); ok {
			raw, err := base64.StdEncoding.DecodeString(b)
			require.NoError(t, err)
			_, ir, found := bytes.Cut(raw, []byte{0})
			require.True(t, found, "GSSAPI NUL initial-response")
			tok = ir
			break
		}
	}
	require.NotEmpty(t, tok, "no token in: %s", stdout.String())
	v := mitVector{Comment: "MIT krb5 1.20 GSS-API initiator (Cyrus sasl-sample-client -m GSSAPI), ticket from an MIT 1.20 KDC with its PAC",
		Realm: kdcRealm, Host: kdcHost, Service: "imap", Time: now, Keytab: ktBytes, Token: tok}
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(mitVectorFile), 0o755))
	require.NoError(t, os.WriteFile(mitVectorFile, append(b, '\n'), 0o644))
}

// TestMITVector accepts MIT's initial token with the clock set to when it
// was made, and checks the refusals on it: another service, the clock
// outside the skew, a replay, any flipped octet.
func TestMITVector(t *testing.T) {
	b, err := os.ReadFile(mitVectorFile)
	require.NoError(t, err)
	var v mitVector
	require.NoError(t, json.Unmarshal(b, &v))
	kt := keytab.New()
	require.NoError(t, kt.Unmarshal(v.Keytab))
	acceptor := func(at time.Time) *Acceptor {
		a, err := NewAcceptor(&ServerConfig{Keytab: kt, Host: v.Host, Realm: v.Realm, now: func() time.Time { return at }})
		require.NoError(t, err)
		return a
	}
	a := acceptor(v.Time)
	s := a.NewGSSAPIServer(context.Background(), v.Service, nil)
	rep, done, err := s.Next(v.Token)
	require.NoError(t, err)
	require.False(t, done)
	tok, _, err := gssUnframe(rep)
	require.NoError(t, err)
	assert.Equal(t, tokAPRep, tok, "MIT asks for mutual authentication")
	acc := s.(*gssapiServer).acc
	assert.Equal(t, "alice", acc.user)
	assert.NotZero(t, acc.keys.initiatorSK.KeyType, "MIT sends an initiator subkey")
	assert.NotZero(t, acc.gssFlags&flagMutual)
	assert.NotZero(t, acc.gssFlags&flagInteg)

	_, _, err = a.NewGSSAPIServer(context.Background(), v.Service, nil).Next(v.Token)
	assert.ErrorIs(t, err, ErrReplay)
	_, _, err = acceptor(v.Time).NewGSSAPIServer(context.Background(), "pop", nil).Next(v.Token)
	assert.ErrorIs(t, err, ErrWrongService)
	_, _, err = acceptor(v.Time.Add(10*time.Minute)).NewGSSAPIServer(context.Background(), v.Service, nil).Next(v.Token)
	assert.ErrorIs(t, err, ErrClockSkew)
	// Flip each octet: the token is refused, or (for the few fields
	// Kerberos leaves unauthenticated: the ap-options bits and their
	// unused-bits count, a name-type, the ticket's kvno, and the tag of the
	// ticket field, which gokrb5 reads as a RawValue) accepted for the same
	// client. No change makes anyone else log in.
	accepted := 0
	for i := range v.Token {
		bad := bytes.Clone(v.Token)
		bad[i] ^= 0x01
		s := acceptor(v.Time).NewGSSAPIServer(context.Background(), v.Service, nil)
		_, _, err := s.Next(bad)
		if err == nil {
			accepted++
			t.Logf("accepted: octet %d flipped (% x)", i, v.Token[max(0, i-4):min(len(v.Token), i+4)])
			assert.Equal(t, "alice", s.(*gssapiServer).acc.user, "octet %d", i)
			continue
		}
		require.True(t, isRefusal(err), "octet %d: %v", i, err)
	}
	assert.LessOrEqual(t, accepted, 8, "only unauthenticated fields may change")
}

func isRefusal(err error) bool {
	return errors.Is(err, sasl.ErrAuthFailed) || errors.Is(err, sasl.ErrMalformed) || errors.Is(err, sasl.ErrTooLarge)
}
