package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
)

// TestDemo runs the demo in-process: every mechanism that both sides
// implement logs in over every protocol, and nothing fails.
func TestDemo(t *testing.T) {
	d, err := startDemo(nil, nil, nil)
	require.NoError(t, err)
	defer d.Close()
	var out bytes.Buffer
	failures := d.Run(&out)
	t.Log("\n" + out.String())
	require.Zero(t, failures, out.String())
	assert.Contains(t, out.String(), "all logins succeeded")
	assert.NotContains(t, out.String(), "FAIL")
	// Every row that is listed passed on all three protocols.
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 {
			if _, ok := sasl.MechanismByName(f[0]); ok {
				rows++
				assert.Equal(t, []string{"ok", "ok", "ok"}, f[1:], line)
			}
		}
	}
	// Every mechanism of package sasl is implemented on both sides now:
	// none may be skipped.
	assert.Equal(t, len(sasl.Mechanisms()), rows)
	assert.NotContains(t, out.String(), "not offered")
	assert.Regexp(t, `(?m)^APOP +- +ok +- *$`, out.String())
	// NTLM (package ntlm, a mechanism from outside sasl) on all three.
	assert.Regexp(t, `(?m)^NTLM +ok +ok +ok *$`, out.String())
}

// TestDemoWrongPassword: the same servers refuse a wrong password, so
// the demo's "ok" means something.
func TestDemoWrongPassword(t *testing.T) {
	d, err := startDemo(nil, nil, nil)
	require.NoError(t, err)
	defer d.Close()
	for _, p := range []sasl.Protocol{sasl.IMAP, sasl.POP3, sasl.SMTP} {
		for _, mech := range []string{sasl.Plain, ntlm.MechanismName} {
			cell, err := d.loginAs(p, mech, false, demoUser, "not-the-password")
			assert.Equal(t, cellFail, cell, p, mech)
			assert.ErrorIs(t, err, sasl.ErrAuthFailed, p, mech)
		}
	}
}

// TestDemoPasswdFile: with a Dovecot passwd-file (package sasl/passdb),
// every login works against the file's entry for the demo user, stored as
// {PLAIN}, from which passdb derives what each mechanism needs.
func TestDemoPasswdFile(t *testing.T) {
	users, err := passdb.Parse(strings.NewReader(demoUser + ":{PLAIN}" + demoPassword + "\n"))
	require.NoError(t, err)
	d, err := startDemo(nil, users, nil)
	require.NoError(t, err)
	defer d.Close()
	var out bytes.Buffer
	failures := d.Run(&out)
	t.Log("\n" + out.String())
	require.Zero(t, failures, out.String())
	assert.Regexp(t, `(?m)^NTLM +ok +ok +ok *$`, out.String(), "NT hash derived from {PLAIN}")
	cell, err := d.loginAs(sasl.IMAP, sasl.Plain, false, demoUser, "not-the-password")
	assert.Equal(t, cellFail, cell)
	assert.ErrorIs(t, err, sasl.ErrAuthFailed)
}

// TestDemoThrottle: main's default Limiter (a sasl.Throttle) is shared by
// the servers and sees the failures of every protocol; a good login still
// works. (Fast settings: the default penalty would make the test slow.)
func TestDemoThrottle(t *testing.T) {
	th := &sasl.Throttle{FailureDelay: time.Millisecond, PenaltyInit: time.Millisecond, PenaltyMax: time.Millisecond}
	d, err := startDemoWith(nil, nil, nil, demoOptions{limiter: th})
	require.NoError(t, err)
	defer d.Close()
	cell, err := d.loginAs(sasl.IMAP, sasl.Plain, false, demoUser, "not-the-password")
	assert.Equal(t, cellFail, cell)
	assert.ErrorIs(t, err, sasl.ErrAuthFailed)
	assert.Equal(t, 1, th.Len(), "the failure from 127.0.0.1 was recorded")
	cell, err = d.loginAs(sasl.POP3, sasl.Plain, false, demoUser, demoPassword)
	assert.Equal(t, cellOK, cell, "%v", err)
	assert.Equal(t, 0, th.Len(), "a success clears the address")
}

// TestDemoNoSCRAMWithoutSecret (issue 8, defect 7): with a real user store
// and no -scram-secret, maild offers no SCRAM (whose fake salts would
// change at each restart); PLAIN still works. With a secret it does.
func TestDemoNoSCRAMWithoutSecret(t *testing.T) {
	users, err := passdb.Parse(strings.NewReader(demoUser + ":{PLAIN}" + demoPassword + "\n"))
	require.NoError(t, err)
	d, err := startDemoWith(nil, users, nil, demoOptions{noSCRAM: true})
	require.NoError(t, err)
	defer d.Close()
	cell, err := d.login(sasl.IMAP, sasl.SCRAMSHA256, false)
	assert.NotEqual(t, cellOK, cell, "SCRAM offered without a secret (%v)", err)
	cell, err = d.login(sasl.IMAP, sasl.Plain, false)
	assert.Equal(t, cellOK, cell, "%v", err)

	secret := filepath.Join(t.TempDir(), "scram.secret")
	require.NoError(t, os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef"), 0o600))
	key, err := readSCRAMSecret(secret)
	require.NoError(t, err)
	// passdb derives SCRAM keys for PLAIN users only with the secret.
	users, err = passdb.Config{SCRAMSecret: key}.Parse(strings.NewReader(demoUser + ":{PLAIN}" + demoPassword + "\n"))
	require.NoError(t, err)
	d2, err := startDemoWith(nil, users, nil, demoOptions{scramSecret: key})
	require.NoError(t, err)
	defer d2.Close()
	cell, err = d2.login(sasl.IMAP, sasl.SCRAMSHA256, false)
	assert.Equal(t, cellOK, cell, "%v", err)
	require.NoError(t, os.WriteFile(secret, []byte("short"), 0o600))
	_, err = readSCRAMSecret(secret)
	assert.Error(t, err)
}
