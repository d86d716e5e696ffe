package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// exampleCLI is the command with a fixed environment and no terminal.
func exampleCLI(env map[string]string) *cli {
	return &cli{
		stdin: strings.NewReader(""), stdout: os.Stdout, stderr: os.Stdout,
		getenv: func(k string) string { return env[k] },
		tty:    func(string) ([]byte, error) { return nil, errors.New("no terminal") },
	}
}

// Writing a password field for a Dovecot passwd-file. PLAIN-MD5 is
// unsalted, so its output is fixed; use SCRAM-SHA-256 (the default),
// ARGON2ID or BLF-CRYPT in practice.
func Example_pw() {
	c := exampleCLI(map[string]string{"MAILAUTH_PASSWORD": "secret"})
	c.main(context.Background(), []string{"pw", "-s", "PLAIN-MD5"})
	// Output: {PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69
}

// Verifying a password against a field, as doveadm pw -t does; the exit
// status is 0 when it matches and 3 when it does not.
func Example_pwVerify() {
	c := exampleCLI(map[string]string{"MAILAUTH_PASSWORD": "secret"})
	code := c.main(context.Background(), []string{"pw", "-t", "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69"})
	c = exampleCLI(map[string]string{"MAILAUTH_PASSWORD": "wrong"})
	code2 := c.main(context.Background(), []string{"pw", "-t", "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69"})
	fmt.Printf("exit %d, then exit %d\n", code, code2)
	// Output:
	// {PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69 (verified)
	// mailauth: PLAIN-MD5: password does not match
	// exit 0, then exit 3
}
