package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/sasl/passdb"
)

// pwSchemes are the scheme names Dovecot 2.3 knows (doveadm pw -l, with
// the NTLM, LANMAN, RPA and SKEY of builds that have them) and passdb's
// SCRAM-SHA-512, strongest first. pw -l reports which of them passdb
// writes and verifies.
var pwSchemes = []string{
	"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1",
	"ARGON2ID", "ARGON2I", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "PBKDF2",
	"SSHA512", "SSHA256", "SSHA", "SMD5", "SHA512", "SHA256", "SHA", "SHA1",
	"CRAM-MD5", "HMAC-MD5", "DIGEST-MD5", "NTLM",
	"MD5-CRYPT", "MD5", "PLAIN-MD5", "LDAP-MD5", "PLAIN-MD4", "CRYPT", "DES-CRYPT",
	"LANMAN", "RPA", "OTP", "SKEY", "PLAIN-TRUNC",
	"PLAIN", "CLEAR", "CLEARTEXT",
}

// defaultPWScheme serves SCRAM-SHA-256 and, through the stored keys,
// PLAIN and LOGIN: the one scheme that needs no plaintext and serves the
// strongest mechanism Dovecot 2.3 speaks.
const defaultPWScheme = "SCRAM-SHA-256"

const pwExample = `  mailauth pw                                 # prompts twice; prints {SCRAM-SHA-256}4096,...
  mailauth pw -s ARGON2ID -password-file pw.txt
  mailauth pw -s DIGEST-MD5 -u alice@example.org
  mailauth pw -t '{SCRAM-SHA-256}4096,...'     # prompts; exit 0 if it matches, 3 if not
  mailauth pw -l                              # the schemes, and which pw writes and verifies`

func runPW(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("pw", "[-s scheme] [-u user] [-t field] [-l]", pwExample)
	scheme := fs.String("s", defaultPWScheme, "password `scheme`, as Dovecot names it (see -l)")
	user := fs.String("u", "", "`user` name, for DIGEST-MD5 (user@realm; the hash binds both)")
	test := fs.String("t", "", "verify the password against this password `field` instead of writing one")
	list := fs.Bool("l", false, "list the schemes and what pw does with each")
	pw := secretFlags{what: "password", flagPfx: "password", defEnv: envPassword}
	pw.register(fs)
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 0 {
		return usagef("pw takes no arguments (got %q); the password is prompted for or read from -password-file/-password-env", fs.Arg(0))
	}
	if *list {
		return pwList(c)
	}
	if *test != "" {
		p, err := passdb.ParsePassword(*test, "")
		if err != nil {
			return fmt.Errorf("-t: %w", err)
		}
		if !p.Supported() {
			return fmt.Errorf("-t: %s: %w", p.Scheme(), passdb.ErrUnsupportedScheme)
		}
		secret, err := pw.get(c, "Enter password to verify: ")
		if err != nil {
			return err
		}
		if err := p.Verify(*user, secret); err != nil {
			if errors.Is(err, sasl.ErrAuthFailed) {
				return fmt.Errorf("%s: %w", p.Scheme(), errPasswordMismatch)
			}
			return err
		}
		fmt.Fprintf(c.stdout, "%s (verified)\n", *test)
		return nil
	}
	name := strings.ToUpper(*scheme)
	secret, err := pw.get(c, "Enter new password: ")
	if err != nil {
		return err
	}
	if !pw.given(c) {
		// Typed blind: ask again, as doveadm pw does.
		again, err := pw.get(c, "Retype new password: ")
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(secret), []byte(again)) != 1 {
			return usagef("the passwords do not match")
		}
	}
	if name == passdb.SchemeDigestMD5 && *user == "" {
		return usagef("-s DIGEST-MD5 needs -u user@realm (or -u user for the empty realm): the hash binds both")
	}
	field, err := passdb.HashUser(name, *user, secret)
	if err != nil {
		return fmt.Errorf("-s %s: %w", name, err)
	}
	fmt.Fprintln(c.stdout, field)
	return nil
}

// pwSamples are fields of the password "password" that doveadm pw wrote
// (Dovecot 2.3.19) in schemes passdb does not write, so pw -l can ask
// passdb whether it verifies them.
var pwSamples = map[string]string{
	"PBKDF2":      "{PBKDF2}$1$yW5MW6vKu9jf5MMR$5000$c400d4bae6f71d562ebc5cb0cd52b826c4d4e3b7",
	"PLAIN-MD4":   "{PLAIN-MD4}8a9d093f14f8701df17732b2bb182c74",
	"CRYPT":       "{CRYPT}$2y$05$h8TRTk3jsTXVZMWraCRHQeXC244vJb1zPZ/VkS5QO/1vC8t0fUIK6",
	"DES-CRYPT":   "{DES-CRYPT}g0Ghz9661OxcM",
	"OTP":         "{OTP}sha1 1024 e8290bbf7137d602 67735da4b4ccc5f8",
	"PLAIN-TRUNC": "{PLAIN-TRUNC}password",
}

// pwList prints each scheme with whether pw writes it and verifies it.
func pwList(c *cli) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scheme\twrite\tverify (-t)\tserves")
	for _, s := range pwSchemes {
		write, verify := "no", "no"
		if field, err := passdb.HashUser(s, "user", "password"); err == nil {
			write = "yes"
			if p, err := passdb.ParsePassword(field, ""); err == nil && p.Supported() {
				verify = "yes"
			}
		} else if sample, ok := pwSamples[s]; ok {
			if p, err := passdb.ParsePassword(sample, ""); err == nil && p.Supported() && p.Verify("", "password") == nil {
				verify = "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s, write, verify, pwServes(s))
	}
	return tw.Flush()
}

// pwServes says which mechanisms a stored scheme serves (package passdb's
// table): the schemes beyond PLAIN/LOGIN that a mail server cares about.
func pwServes(s string) string {
	switch s {
	case "PLAIN", "CLEAR", "CLEARTEXT":
		return "every mechanism (stores the password itself)"
	case "CRAM-MD5", "HMAC-MD5":
		return "CRAM-MD5"
	case "DIGEST-MD5":
		return "DIGEST-MD5 (its realm)"
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512":
		return s + "(-PLUS), PLAIN, LOGIN"
	case "NTLM":
		return "NTLM, PLAIN, LOGIN"
	}
	return "PLAIN, LOGIN"
}

// parseErr turns a flag parse error into a usage error (flag has already
// printed it and the usage) or passes -h through.
func parseErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return quietError{exitUsage}
}
