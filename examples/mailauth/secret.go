package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// maxSecretFile bounds a password or token file: a bearer token is a few
// KiB at most, and a wrong path (a log, a device) must not be read whole.
const maxSecretFile = 64 << 10

// Default environment variables for secrets.
const (
	envPassword = "MAILAUTH_PASSWORD"
	envToken    = "MAILAUTH_TOKEN"
)

// secretFlags say where one secret comes from. A secret is never a flag
// value: argv is visible to every user of the machine.
type secretFlags struct {
	what    string // "password", "token"
	env     string // -password-env: variable name
	file    string // -password-file: path
	defEnv  string // variable used when neither is given
	flagPfx string // "password", "token"
}

func (s *secretFlags) register(fs interface {
	StringVar(p *string, name, value, usage string)
}) {
	fs.StringVar(&s.env, s.flagPfx+"-env", "", fmt.Sprintf("read the %s from this environment `variable` (default %s if set)", s.what, s.defEnv))
	fs.StringVar(&s.file, s.flagPfx+"-file", "", fmt.Sprintf("read the %s from the first line of this `file` (\"-\" for stdin)", s.what))
}

// given reports whether the user said where the secret comes from, or the
// default variable holds one.
func (s *secretFlags) given(c *cli) bool {
	return s.env != "" || s.file != "" || c.getenv(s.defEnv) != ""
}

// get returns the secret: from -*-file, -*-env, the default variable,
// or else a prompt without echo on the terminal (prompt "" means: no
// prompt allowed, the secret is required from elsewhere).
func (s *secretFlags) get(c *cli, prompt string) (string, error) {
	switch {
	case s.file != "":
		return readSecretFile(c, s.file, s.what)
	case s.env != "":
		v := c.getenv(s.env)
		if v == "" {
			return "", usagef("-%s-env: %s is empty or not set", s.flagPfx, s.env)
		}
		return v, nil
	case c.getenv(s.defEnv) != "":
		return c.getenv(s.defEnv), nil
	}
	if prompt == "" {
		return "", usagef("no %s: give -%s-file or -%s-env, or set %s", s.what, s.flagPfx, s.flagPfx, s.defEnv)
	}
	b, err := c.tty(prompt)
	if err != nil {
		return "", usagef("no %s: %v; give -%s-file or -%s-env, or set %s", s.what, err, s.flagPfx, s.flagPfx, s.defEnv)
	}
	return string(b), nil
}

// readSecretFile reads the first line of path ("-": stdin), without its
// line ending, and warns when others may read the file.
func readSecretFile(c *cli, path, what string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = c.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("%s file: %w", what, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(c.stderr, "mailauth: warning: %s file %s is readable by others (mode %v)\n", what, path, st.Mode().Perm())
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("%s file: %w", what, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s file: longer than %d bytes", what, maxSecretFile)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s file: first line is empty", what)
	}
	return line, nil
}

// readTerminal prompts on stderr and reads a line from the terminal on
// stdin without echo (golang.org/x/term).
func readTerminal(prompt string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errors.New("stdin is not a terminal")
	}
	fmt.Fprint(os.Stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	return b, err
}
