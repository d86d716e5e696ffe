package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl/passdb"
)

// TestPWRoundTrip writes an entry in every scheme passdb writes and
// verifies it with -t: the right password passes (exit 0), a wrong one
// fails (exit 3), and the field parses with passdb as its scheme.
func TestPWRoundTrip(t *testing.T) {
	for _, scheme := range pwSchemes {
		if _, err := passdb.HashUser(scheme, "u", "p"); err != nil {
			continue // not written by passdb; TestPWUnwritable covers these
		}
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(t, pwEnv(), "pw", "-s", scheme, "-u", "alice@example.org")
			require.Equal(t, exitOK, code, errOut)
			field := strings.TrimSpace(out)
			require.True(t, strings.HasPrefix(field, "{"), field)
			p, err := passdb.ParsePassword(field, "")
			require.NoError(t, err)
			require.NoError(t, p.Verify("alice@example.org", testPassword))

			code, out, errOut = runCLI(t, pwEnv(), "pw", "-t", field, "-u", "alice@example.org")
			assert.Equal(t, exitOK, code, errOut)
			assert.Equal(t, field+" (verified)\n", out)

			code, _, errOut = runCLI(t, map[string]string{envPassword: "not it"}, "pw", "-t", field, "-u", "alice@example.org")
			assert.Equal(t, exitAuth, code)
			assert.Contains(t, errOut, "does not match")
			assert.NotContains(t, errOut, "not it")
		})
	}
}

// TestPWUnwritable: a scheme passdb does not write is an error that names
// it, and exit status 1, never a field.
func TestPWUnwritable(t *testing.T) {
	code, out, errOut := runCLI(t, pwEnv(), "pw", "-s", "DES-CRYPT")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "DES-CRYPT")
	code, _, _ = runCLI(t, pwEnv(), "pw", "-s", "NO-SUCH-SCHEME")
	assert.Equal(t, exitFailure, code)
}

func TestPWSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(f, []byte(testPassword+"\r\nsecond line\n"), 0o600))
	code, out, errOut := runCLI(t, nil, "pw", "-s", "SSHA256", "-password-file", f)
	require.Equal(t, exitOK, code, errOut)
	field := strings.TrimSpace(out)
	code, _, errOut = runCLI(t, map[string]string{"MYPW": testPassword}, "pw", "-t", field, "-password-env", "MYPW")
	assert.Equal(t, exitOK, code, errOut)

	// No password source and no terminal: a usage error, nothing written.
	code, out, errOut = runCLI(t, nil, "pw")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "no password")
	// An empty variable named explicitly is refused.
	code, _, _ = runCLI(t, nil, "pw", "-password-env", "UNSET")
	assert.Equal(t, exitUsage, code)
	// An empty file is refused.
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	code, _, _ = runCLI(t, nil, "pw", "-password-file", empty)
	assert.Equal(t, exitFailure, code)
	// A world-readable file works, with a warning.
	open := filepath.Join(dir, "open")
	require.NoError(t, os.WriteFile(open, []byte("x\n"), 0o644))
	code, _, errOut = runCLI(t, nil, "pw", "-s", "PLAIN", "-password-file", open)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, errOut, "readable by others")
}

func TestPWUsage(t *testing.T) {
	code, _, errOut := runCLI(t, pwEnv(), "pw", "-s", "DIGEST-MD5")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-u")
	code, _, _ = runCLI(t, pwEnv(), "pw", "extra")
	assert.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, pwEnv(), "pw", "-bogus")
	assert.Equal(t, exitUsage, code)
	code, _, errOut = runCLI(t, nil, "pw", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, errOut, "example:")
	code, _, _ = runCLI(t, pwEnv(), "pw", "-t", "{NO-SUCH}abc")
	assert.Equal(t, exitFailure, code)
	code, out, _ := runCLI(t, nil, "pw", "-l")
	assert.Equal(t, exitOK, code)
	for _, s := range []string{"SCRAM-SHA-256", "ARGON2ID", "SHA512-CRYPT", "CRAM-MD5"} {
		assert.Contains(t, out, s)
	}
}

// TestHelp: every subcommand's -h gives an example and exits 0.
func TestHelp(t *testing.T) {
	for _, cmd := range commands {
		code, _, errOut := runCLI(t, nil, cmd.name, "-h")
		assert.Equal(t, exitOK, code, cmd.name)
		assert.Contains(t, errOut, "example:", cmd.name)
		assert.Contains(t, errOut, "mailauth "+cmd.name, cmd.name)
	}
	code, _, _ := runCLI(t, nil)
	assert.Equal(t, exitUsage, code)
	code, _, _ = runCLI(t, nil, "nosuch")
	assert.Equal(t, exitUsage, code)
}
