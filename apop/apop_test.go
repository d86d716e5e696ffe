package apop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
	"github.com/go-mailauth/mailauth/tlsutil"
)

// apopTestLookup is a sasl.PlaintextLookup over a map; a name listed in
// fail gets that error instead.
type apopTestLookup struct {
	users map[string]string
	fail  map[string]error
	calls int
}

func (l *apopTestLookup) LookupPassword(_ context.Context, name string) (string, error) {
	l.calls++
	if err, ok := l.fail[name]; ok {
		return "", err
	}
	if p, ok := l.users[name]; ok {
		return p, nil
	}
	return "", fmt.Errorf("test store: %w", sasl.ErrUnknownUser)
}

var apopTLS = sasl.ServerConnState(&tls.ConnectionState{HandshakeComplete: true}, nil, nil)

// apopVector is one entry of testdata/apop/*.json.
type apopVector struct {
	Name      string `json:"name"`
	Greeting  string `json:"greeting"`
	Timestamp string `json:"timestamp"`
	Username  string `json:"username"`
	Password  string `json:"password"`
	Digest    string `json:"digest"`
}

func apopLoadVectors(t testing.TB) []apopVector {
	t.Helper()
	data, err := os.ReadFile("testdata/apop/vectors.json")
	require.NoError(t, err)
	var vs []apopVector
	require.NoError(t, json.Unmarshal(data, &vs))
	require.NotEmpty(t, vs)
	return vs
}

// apopRefDigest is an independent digest: crypto/md5 and encoding/hex.
func apopRefDigest(ts, password string) string {
	h := md5.New()
	h.Write([]byte(ts))
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}

// apopTestServer returns a Server with a fixed timestamp.
func apopTestServer(cfg *ServerConfig, ts string) *Server {
	return apopNewServer(cfg, ts)
}

func TestVectors(t *testing.T) {
	for _, v := range apopLoadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			assert.Equal(t, v.Digest, apopDigest(v.Timestamp, v.Password))
			assert.Equal(t, v.Digest, apopRefDigest(v.Timestamp, v.Password))

			ts, err := ParseGreeting(v.Greeting)
			require.NoError(t, err)
			assert.Equal(t, v.Timestamp, ts)

			cmd, err := Command(apopTLS, v.Greeting, v.Username, v.Password, nil)
			require.NoError(t, err)
			assert.Equal(t, "APOP "+v.Username+" "+v.Digest, cmd)

			lookup := &apopTestLookup{users: map[string]string{v.Username: v.Password}}
			srv := apopTestServer(&ServerConfig{Plaintext: lookup}, v.Timestamp)
			id, err := srv.Verify(context.Background(), apopTLS, v.Username+" "+v.Digest)
			require.NoError(t, err)
			assert.Equal(t, sasl.Identity{Mechanism: "APOP", Username: v.Username}, id)
		})
	}
}

func TestMechanism(t *testing.T) {
	m := Mechanism()
	assert.Equal(t, "APOP", m.Name())
	assert.Equal(t, sasl.Security{NeedsTLS: true, Legacy: true}, m.Security())
}

func TestParseGreeting(t *testing.T) {
	long := func(n int) string { // a valid timestamp of exactly n octets
		return "<" + strings.Repeat("a", n-len("<@b>")) + "@b>"
	}
	accept := []struct {
		name, greeting, want string
	}{
		{"rfc1939", "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "<1896.697170952@dbc.mtview.ca.us>"},
		{"crlf", "+OK ready <1.2@h>\r\n", "<1.2@h>"},
		{"lf", "+OK ready <1.2@h>\n", "<1.2@h>"},
		{"shortest", "+OK <a@b>", "<a@b>"},
		{"text after", "+OK <1.2@h> ready", "<1.2@h>"},
		{"dovecot style", "+OK Dovecot ready. <4f2.1.67a8b2c1.Xy+Zk/9Q3b1fQ==@mail.example.org>", "<4f2.1.67a8b2c1.Xy+Zk/9Q3b1fQ==@mail.example.org>"},
		{"atext", "+OK <!#$%&'*+-/=?^_`{|}~.x@a-b.c>", "<!#$%&'*+-/=?^_`{|}~.x@a-b.c>"},
		{"no-fold-literal", "+OK <1.2@[192.0.2.1]>", "<1.2@[192.0.2.1]>"},
		{"empty literal", "+OK <1.2@[]>", "<1.2@[]>"},
		{"255 octets", "+OK " + long(255), long(255)},
		{"512-octet greeting", "+OK " + strings.Repeat("x", 512-len("+OK  <a@b>")) + " <a@b>", "<a@b>"},
	}
	for _, tt := range accept {
		t.Run("accept/"+tt.name, func(t *testing.T) {
			ts, err := ParseGreeting(tt.greeting)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ts)
		})
	}

	reject := []struct {
		name, greeting string
		want           error
	}{
		// Not a +OK greeting at all.
		{"empty", "", sasl.ErrMalformed},
		{"-ERR", "-ERR <1.2@h>", sasl.ErrMalformed},
		{"+OKAY", "+OKAY <1.2@h>", sasl.ErrMalformed},
		{"lower +ok", "+ok <1.2@h>", sasl.ErrMalformed},
		{"crlf only at the end", "+OK <1.2@h>\r\n\r\n", ErrInvalidTimestamp},
		// No timestamp: the server does not offer APOP.
		{"no <", "+OK POP3 server ready", ErrNoTimestamp},
		{"only +OK", "+OK", ErrNoTimestamp},
		{"> without <", "+OK ready > now", ErrNoTimestamp},
		// fetchmail 6.3.8: '<' then '>', not "<>", rfc822_valid_msgid.
		{"fetchmail no >", "+OK <1.2@h", ErrInvalidTimestamp},
		{"fetchmail <>", "+OK <>", ErrInvalidTimestamp},
		{"fetchmail quoted-string", `+OK <"a b"@h>`, ErrInvalidTimestamp},
		{"fetchmail quoted-pair", `+OK <"a\b"@h>`, ErrInvalidTimestamp},
		{"fetchmail empty word", "+OK <a..b@h>", ErrInvalidTimestamp},
		{"fetchmail leading dot", "+OK <.a@h>", ErrInvalidTimestamp},
		{"fetchmail trailing dot", "+OK <a.@h>", ErrInvalidTimestamp},
		{"fetchmail empty sub-domain", "+OK <a@h..example>", ErrInvalidTimestamp},
		{"fetchmail domain trailing dot", "+OK <a@h.>", ErrInvalidTimestamp},
		{"fetchmail specials in atom", "+OK <a(b)@h>", ErrInvalidTimestamp},
		{"fetchmail comma", "+OK <a,b@h>", ErrInvalidTimestamp},
		{"fetchmail colon", "+OK <a:b@h>", ErrInvalidTimestamp},
		{"fetchmail semicolon", "+OK <a;b@h>", ErrInvalidTimestamp},
		{"fetchmail backslash", `+OK <a\b@h>`, ErrInvalidTimestamp},
		{"fetchmail bracket in left", "+OK <[a]@h>", ErrInvalidTimestamp},
		{"fetchmail literal with ]", "+OK <a@[1]2]>", ErrInvalidTimestamp},
		{"fetchmail literal with backslash", `+OK <a@[1\2]>`, ErrInvalidTimestamp},
		{"fetchmail unclosed literal", "+OK <a@[1.2>", ErrInvalidTimestamp},
		// mutt: length >= 5, '<' first, '>' last, '@' inside, bytes <= 127.
		{"mutt too short", "+OK <a@>", ErrInvalidTimestamp},
		{"mutt length 4", "+OK <@b>", ErrInvalidTimestamp},
		{"mutt no @", "+OK <1896.697170952>", ErrInvalidTimestamp},
		{"mutt 8-bit", "+OK <1.2\x80@h>", ErrInvalidTimestamp},
		{"mutt 0xff", "+OK <1.2@h\xff>", ErrInvalidTimestamp},
		// Thunderbird: '@' strictly between, ASCII.
		{"thunderbird @ first", "+OK <@host.example>", ErrInvalidTimestamp},
		{"thunderbird @ last", "+OK <1896.697170952@>", ErrInvalidTimestamp},
		{"thunderbird utf-8", "+OK <1.2@h\u00e9>", ErrInvalidTimestamp},
		// Evolution: every byte isascii().
		{"evolution non-ascii left", "+OK <\u00fc.2@h>", ErrInvalidTimestamp},
		// Ours.
		{"> before <", "+OK >1.2@h<", ErrInvalidTimestamp},
		{"> before < with text", "+OK ready> <1.2@h>", ErrInvalidTimestamp},
		{"two @", "+OK <a@b@c>", ErrInvalidTimestamp},
		{"two @ in literal", "+OK <a@[b@c]>", ErrInvalidTimestamp},
		{"empty left", "+OK <@h.example>", ErrInvalidTimestamp},
		{"empty right", "+OK <1.2.3@>", ErrInvalidTimestamp},
		{"NUL inside", "+OK <1.2\x00@h>", ErrInvalidTimestamp},
		{"NUL before", "+OK \x00 <1.2@h>", ErrInvalidTimestamp},
		{"CR inside", "+OK <1.2\r@h>", ErrInvalidTimestamp},
		{"LF inside", "+OK <1.2\n@h>", ErrInvalidTimestamp},
		{"CRLF before", "+OK \r\n<1.2@h>", ErrInvalidTimestamp},
		{"CRLF right after +OK", "+OK\r\n<1.2@h>", sasl.ErrMalformed},
		{"tab", "+OK <1.2\t@h>", ErrInvalidTimestamp},
		{"control", "+OK <1.2\x01@h>", ErrInvalidTimestamp},
		{"escape", "+OK <1.2@h\x1b[0m>", ErrInvalidTimestamp},
		{"DEL", "+OK <1.2\x7f@h>", ErrInvalidTimestamp},
		{"space", "+OK <1 2@h>", ErrInvalidTimestamp},
		{"space after <", "+OK < 1.2@h>", ErrInvalidTimestamp},
		{"256 octets", "+OK " + long(256), ErrInvalidTimestamp},
		{"4 KiB greeting", "+OK " + long(200) + strings.Repeat("x", 4096), sasl.ErrTooLarge},
		{"4 KiB timestamp", "+OK " + long(4096), ErrInvalidTimestamp},
		{"513-octet greeting", "+OK " + strings.Repeat("x", 513-len("+OK  <a@b>")) + " <a@b>", sasl.ErrTooLarge},
		{"several <", "+OK <<1.2@h>", ErrInvalidTimestamp},
		{"nested", "+OK <a<1.2@h>>", ErrInvalidTimestamp},
		{"two timestamps", "+OK <1.2@h> <3.4@h>", ErrInvalidTimestamp},
		{"bad then good", "+OK <x> <1.2@h>", ErrInvalidTimestamp},
		{"unbalanced >", "+OK <1.2@h>>", ErrInvalidTimestamp},
		{"unbalanced <", "+OK <1.2@h", ErrInvalidTimestamp},
		{"collision block", "+OK <" + strings.Repeat("\x8f\x3e\x00\xd2", 16) + "@h>", ErrInvalidTimestamp},
	}
	for _, tt := range reject {
		t.Run("reject/"+tt.name, func(t *testing.T) {
			ts, err := ParseGreeting(tt.greeting)
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, ts)
			assert.True(t, strings.HasPrefix(err.Error(), "apop: "), err.Error())
			if tt.want != ErrNoTimestamp && tt.want != sasl.ErrMalformed {
				assert.ErrorIs(t, err, ErrInvalidTimestamp)
			}
			// A rejected greeting never produces a command.
			cmd, err := Command(apopTLS, tt.greeting, "user", "secret", nil)
			assert.Error(t, err)
			assert.Empty(t, cmd)
		})
	}
}

func TestNewServer(t *testing.T) {
	re := regexp.MustCompile(`^<[0-9]+\.[0-9a-f]{32}@mail\.example\.org>$`)
	cfg := &ServerConfig{Hostname: "mail.example.org"}
	seen := make(map[string]bool)
	for range 1000 {
		srv, err := NewServer(cfg)
		require.NoError(t, err)
		ts := srv.Timestamp()
		require.Regexp(t, re, ts)
		require.False(t, seen[ts], "timestamp repeated")
		seen[ts] = true
		// Our own timestamps pass our own client's checks.
		got, err := ParseGreeting("+OK POP3 server ready " + ts)
		require.NoError(t, err)
		require.Equal(t, ts, got)
	}

	srv, err := NewServer(nil)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(srv.Timestamp(), "@localhost>"))
	_, err = srv.Verify(context.Background(), apopTLS, "user 0123456789abcdef0123456789abcdef")
	assert.ErrorIs(t, err, sasl.ErrUnsupportedMechanism)

	// The random part comes from the configured reader.
	srv, err = NewServer(&ServerConfig{rand: bytes.NewReader(bytes.Repeat([]byte{0xab}, 16))})
	require.NoError(t, err)
	assert.Contains(t, srv.Timestamp(), "."+strings.Repeat("ab", 16)+"@localhost>")
	_, err = NewServer(&ServerConfig{rand: bytes.NewReader(nil)})
	assert.Error(t, err)

	for _, host := range []string{"a b", "h@x", "h>", "<h", ".h", "h.", "h..x", "h\r\nx", "h\x00", "h\u00e9", "[192.0.2.1]", strings.Repeat("h", 220)} {
		_, err := NewServer(&ServerConfig{Hostname: host})
		assert.ErrorIs(t, err, ErrInvalidTimestamp, "%q", host)
	}
}

func TestVerify(t *testing.T) {
	const ts = "<1896.697170952@dbc.mtview.ca.us>"
	good := apopRefDigest(ts, "tanstaaf")
	dbErr := errors.New("database is down")
	type row struct {
		name     string
		args     string
		insecure bool
		conn     *sasl.ConnState
		want     error // nil: success
	}
	rows := []row{
		{name: "ok", args: "mrose " + good},
		{name: "ok uppercase digest", args: "mrose " + strings.ToUpper(good)},
		{name: "ok mixed case digest", args: "mrose " + strings.ToUpper(good[:16]) + good[16:]},
		{name: "ok insecure without TLS", args: "mrose " + good, insecure: true, conn: &sasl.ConnState{}},
		{name: "ok utf-8 name", args: "j\u00fcrgen " + apopRefDigest(ts, "pw\u00e4")},
		{name: "wrong digest", args: "mrose " + apopRefDigest(ts, "tanstaaF")},
		{name: "digest of another timestamp", args: "mrose " + apopRefDigest("<1896.697170953@dbc.mtview.ca.us>", "tanstaaf")},
		{name: "digest of the password alone", args: "mrose " + apopRefDigest("", "tanstaaf")},
		{name: "unknown user", args: "nobody " + good},
		{name: "unknown user with dummy digest", args: "nobody " + apopRefDigest(ts, apopDummySecret)},
		{name: "empty password", args: "nopass " + apopRefDigest(ts, "")},
		{name: "empty password dummy digest", args: "nopass " + apopRefDigest(ts, apopDummySecret)},
		{name: "wrong name case", args: "MROSE " + good},
		{name: "no TLS", args: "mrose " + good, conn: &sasl.ConnState{}, want: sasl.ErrNeedsTLS},
		{name: "nil conn", args: "mrose " + good, conn: nil, want: sasl.ErrNeedsTLS},
		{name: "handshake not complete", args: "mrose " + good, conn: sasl.ServerConnState(&tls.ConnectionState{}, nil, nil), want: sasl.ErrNeedsTLS},
		{name: "lookup error", args: "broken " + good, want: dbErr},
		{name: "missing args", args: "", want: sasl.ErrMalformed},
		{name: "name only", args: "mrose", want: sasl.ErrMalformed},
		{name: "name and space", args: "mrose ", want: sasl.ErrMalformed},
		{name: "digest only", args: " " + good, want: sasl.ErrMalformed},
		{name: "extra args", args: "mrose " + good + " x", want: sasl.ErrMalformed},
		{name: "trailing space", args: "mrose " + good + " ", want: sasl.ErrMalformed},
		{name: "two spaces", args: "mrose  " + good, want: sasl.ErrMalformed},
		{name: "tab separator", args: "mrose\t" + good, want: sasl.ErrMalformed},
		{name: "odd-length digest", args: "mrose " + good[:31], want: sasl.ErrMalformed},
		{name: "short digest", args: "mrose " + good[:30], want: sasl.ErrMalformed},
		{name: "long digest", args: "mrose " + good + "00", want: sasl.ErrMalformed},
		{name: "33-digit digest", args: "mrose " + good + "0", want: sasl.ErrMalformed},
		{name: "non-hex digest", args: "mrose " + good[:31] + "g", want: sasl.ErrMalformed},
		{name: "0x prefix", args: "mrose 0x" + good[:30], want: sasl.ErrMalformed},
		{name: "base64 digest", args: "mrose xMkzS6xWDsyXngBYAT4i+w==AAAAAAAA", want: sasl.ErrMalformed},
		{name: "name with control", args: "mr\x01ose " + good, want: sasl.ErrMalformed},
		{name: "name with DEL", args: "mr\x7fose " + good, want: sasl.ErrMalformed},
		{name: "name with NUL", args: "mr\x00ose " + good, want: sasl.ErrMalformed},
		{name: "name with CR", args: "mr\rose " + good, want: sasl.ErrMalformed},
		{name: "name not utf-8", args: "mr\xffose " + good, want: sasl.ErrMalformed},
		{name: "name with C1 control", args: "mr\u0085ose " + good, want: sasl.ErrMalformed},
		{name: "longest name", args: strings.Repeat("n", maxNameLen) + " " + good},
		{name: "name too long", args: strings.Repeat("n", maxNameLen+1) + " " + good, want: sasl.ErrTooLarge},
		{name: "too long line", args: strings.Repeat("x", 4096), want: sasl.ErrTooLarge},
	}
	lookup := &apopTestLookup{
		users: map[string]string{
			"mrose":                         "tanstaaf",
			"j\u00fcrgen":                   "pw\u00e4",
			"nopass":                        "",
			strings.Repeat("n", maxNameLen): "tanstaaf",
		},
		fail: map[string]error{"broken": dbErr},
	}
	var failText string
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			conn := apopTLS
			if tt.conn != nil || strings.Contains(tt.name, "nil conn") {
				conn = tt.conn
			}
			srv := apopTestServer(&ServerConfig{Plaintext: lookup, InsecureAuth: tt.insecure}, ts)
			id, err := srv.Verify(context.Background(), conn, tt.args)
			if strings.HasPrefix(tt.name, "ok") || tt.name == "longest name" {
				require.NoError(t, err)
				name, _, _ := strings.Cut(tt.args, " ")
				assert.Equal(t, sasl.Identity{Mechanism: Name, Username: name}, id)
				return
			}
			want := tt.want
			if want == nil {
				want = sasl.ErrAuthFailed
			}
			require.ErrorIs(t, err, want)
			assert.Equal(t, sasl.Identity{}, id)
			if want == dbErr {
				assert.Same(t, dbErr, err, "lookup errors pass through unwrapped")
				return
			}
			assert.True(t, strings.HasPrefix(err.Error(), "apop: "), err.Error())
			for _, secret := range []string{"mrose", "nobody", "tanstaaf", good, "nopass"} {
				assert.NotContains(t, err.Error(), secret)
			}
			if want == sasl.ErrAuthFailed {
				// Every failed verification is the same error, so nobody
				// can tell an unknown user from a wrong password.
				if failText == "" {
					failText = err.Error()
				}
				assert.Equal(t, failText, err.Error())
				assert.Same(t, errAuthFailed, err)
			}
		})
	}
}

// TestVerifyUnknownUserSameWork checks that an unknown user and a user whose
// password is empty go through the lookup and the digest check like a
// known one.
func TestVerifyUnknownUserSameWork(t *testing.T) {
	const ts = "<1.2@h>"
	lookup := &apopTestLookup{users: map[string]string{"known": "pw", "nopass": ""}}
	for _, name := range []string{"known", "unknown", "nopass"} {
		srv := apopTestServer(&ServerConfig{Plaintext: lookup}, ts)
		before := lookup.calls
		_, err := srv.Verify(context.Background(), apopTLS, name+" "+apopRefDigest(ts, "wrong"))
		assert.Same(t, errAuthFailed, err)
		assert.Equal(t, before+1, lookup.calls)
	}
	// check is the same code for all three; its result alone does not
	// decide for an unknown user.
	var d [16]byte
	require.True(t, apopDecodeHex(&d, apopRefDigest(ts, apopDummySecret)))
	srv := apopTestServer(&ServerConfig{Plaintext: lookup}, ts)
	assert.True(t, srv.check(apopDummySecret, &d))
	_, err := srv.Verify(context.Background(), apopTLS, "unknown "+apopRefDigest(ts, apopDummySecret))
	assert.Same(t, errAuthFailed, err)
}

func TestVerifyState(t *testing.T) {
	const ts = "<1.2@h>"
	lookup := &apopTestLookup{users: map[string]string{"u": "pw"}}
	good := "u " + apopRefDigest(ts, "pw")
	ctx := context.Background()

	t.Run("retry after failure", func(t *testing.T) {
		srv := apopTestServer(&ServerConfig{Plaintext: lookup}, ts)
		_, err := srv.Verify(ctx, apopTLS, "u "+apopRefDigest(ts, "bad"))
		require.ErrorIs(t, err, sasl.ErrAuthFailed)
		_, err = srv.Verify(ctx, apopTLS, "u")
		require.ErrorIs(t, err, sasl.ErrMalformed)
		id, err := srv.Verify(nil, apopTLS, good) //nolint:staticcheck // nil ctx is allowed
		require.NoError(t, err)
		assert.Equal(t, "u", id.Username)
		_, err = srv.Verify(ctx, apopTLS, good)
		assert.ErrorIs(t, err, sasl.ErrUnexpectedClientResponse)
	})
	t.Run("attempts are bounded", func(t *testing.T) {
		srv := apopTestServer(&ServerConfig{Plaintext: lookup}, ts)
		for range maxServerAttempts {
			_, err := srv.Verify(ctx, apopTLS, "u "+apopRefDigest(ts, "bad"))
			require.ErrorIs(t, err, sasl.ErrAuthFailed)
		}
		_, err := srv.Verify(ctx, apopTLS, good)
		assert.ErrorIs(t, err, ErrTooManyAttempts)
	})
	t.Run("refused without TLS does not count", func(t *testing.T) {
		srv := apopTestServer(&ServerConfig{Plaintext: lookup}, ts)
		for range 2 * maxServerAttempts {
			_, err := srv.Verify(ctx, nil, good)
			require.ErrorIs(t, err, sasl.ErrNeedsTLS)
		}
		// After STLS the same Server accepts the digest of its timestamp.
		_, err := srv.Verify(ctx, apopTLS, good)
		assert.NoError(t, err)
	})
	t.Run("ctx reaches the lookup", func(t *testing.T) {
		type key struct{}
		var got any
		l := apopLookupFunc(func(ctx context.Context, _ string) (string, error) {
			got = ctx.Value(key{})
			return "pw", nil
		})
		srv := apopTestServer(&ServerConfig{Plaintext: l}, ts)
		_, err := srv.Verify(context.WithValue(ctx, key{}, "v"), apopTLS, good)
		require.NoError(t, err)
		assert.Equal(t, "v", got)
	})
}

type apopLookupFunc func(ctx context.Context, name string) (string, error)

func (f apopLookupFunc) LookupPassword(ctx context.Context, name string) (string, error) {
	return f(ctx, name)
}

func TestCommand(t *testing.T) {
	const greeting = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
	cmd, err := Command(apopTLS, greeting, "mrose", "tanstaaf", nil)
	require.NoError(t, err)
	assert.Equal(t, "APOP mrose c4c9334bac560ecc979e58001b3e22fb", cmd)

	for _, conn := range []*sasl.ConnState{nil, {}, sasl.ServerConnState(&tls.ConnectionState{}, nil, nil)} {
		_, err = Command(conn, greeting, "mrose", "tanstaaf", nil)
		assert.ErrorIs(t, err, sasl.ErrNeedsTLS)
		_, err = Command(conn, greeting, "mrose", "tanstaaf", &ClientConfig{})
		assert.ErrorIs(t, err, sasl.ErrNeedsTLS)
		cmd, err = Command(conn, greeting, "mrose", "tanstaaf", &ClientConfig{InsecureAuth: true})
		require.NoError(t, err)
		assert.Equal(t, "APOP mrose c4c9334bac560ecc979e58001b3e22fb", cmd)
	}
	// The TLS rule comes first: without TLS nothing about the greeting is
	// trusted, not even whether it offers APOP.
	_, err = Command(nil, "+OK no stamp", "mrose", "tanstaaf", nil)
	assert.ErrorIs(t, err, sasl.ErrNeedsTLS)

	for _, name := range []string{"", "a b", "a\r\nQUIT", "a\x00", "a\tb", "\xff", strings.Repeat("n", maxNameLen+1)} {
		_, err := Command(apopTLS, greeting, name, "tanstaaf", nil)
		assert.ErrorIs(t, err, ErrInvalidName, "%q", name)
	}
	_, err = Command(apopTLS, "+OK no stamp", "mrose", "tanstaaf", nil)
	assert.ErrorIs(t, err, ErrNoTimestamp)
}

// apopServeOne plays a POP3 server on c: the greeting, then one APOP command
// answered by srv. Its error goes to errc, never to require.
func apopServeOne(c net.Conn, srv *Server, conn *sasl.ConnState, errc chan<- error) {
	defer c.Close()
	tp := textproto.NewConn(c)
	if err := tp.PrintfLine("+OK POP3 server ready %s", srv.Timestamp()); err != nil {
		errc <- err
		return
	}
	line, err := tp.ReadLine()
	if err != nil {
		errc <- err
		return
	}
	cmd, args, _ := strings.Cut(line, " ")
	if !strings.EqualFold(cmd, "APOP") {
		errc <- fmt.Errorf("unexpected command %q", cmd)
		return
	}
	id, verr := srv.Verify(context.Background(), conn, args)
	if verr != nil {
		err = tp.PrintfLine("-ERR [AUTH] authentication failed")
	} else {
		err = tp.PrintfLine("+OK %s's maildrop has 0 messages", id.Username)
	}
	if err != nil {
		errc <- err
		return
	}
	errc <- verr
}

func TestLoginRoundTrip(t *testing.T) {
	lookup := &apopTestLookup{users: map[string]string{"mrose": "tanstaaf"}}
	cfg := &ServerConfig{Plaintext: lookup, Hostname: "pop.example.org"}
	for _, tt := range []struct {
		name, password string
		want           error
	}{
		{"ok", "tanstaaf", nil},
		{"wrong password", "wrong", sasl.ErrAuthFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Real TLS: Login reads it from the connection.
			cc, sc := apopTLSPipe(t)
			srv, err := NewServer(cfg)
			require.NoError(t, err)
			errc := make(chan error, 1)
			go apopServeOne(sc, srv, apopTLS, errc)

			tp := textproto.NewConn(cc)
			greeting, err := tp.ReadLine()
			require.NoError(t, err)
			err = Login(context.Background(), tp, cc, greeting, "mrose", tt.password, nil)
			// Close the pipe under TLS, so neither side's close_notify
			// waits for a reader.
			cc.(*tls.Conn).NetConn().Close()
			serr := <-errc
			if tt.want == nil {
				require.NoError(t, err)
				require.NoError(t, serr)
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), "[AUTH] authentication failed")
			assert.NotContains(t, err.Error(), tt.password)
			assert.ErrorIs(t, serr, tt.want)
		})
	}
}

func TestLoginReplies(t *testing.T) {
	const ts = "<1.2@h>"
	for _, tt := range []struct {
		name, reply string
		want        error // nil: success
		text        string
	}{
		{"+OK bare", "+OK\r\n", nil, ""},
		{"+OK LF only", "+OK done\n", nil, ""},
		{"-ERR bare", "-ERR\r\n", sasl.ErrAuthFailed, ""},
		{"-ERR in use", "-ERR [IN-USE] maildrop locked\r\n", sasl.ErrAuthFailed, "[IN-USE] maildrop locked"},
		{"-ERR controls sanitised", "-ERR \x1b[31mred\x00\r\n", sasl.ErrAuthFailed, "?[31mred?"},
		{"-ERR long text truncated", "-ERR " + strings.Repeat("y", 300) + "\r\n", sasl.ErrAuthFailed, strings.Repeat("y", maxReplyTextLen) + `"`},
		{"+OKAY", "+OKAY\r\n", sasl.ErrMalformed, ""},
		{"-ERROR", "-ERROR\r\n", sasl.ErrMalformed, ""},
		{"continuation", "+ go on\r\n", sasl.ErrMalformed, ""},
		{"empty line", "\r\n", sasl.ErrMalformed, ""},
		{"too long", "+OK " + strings.Repeat("z", 600) + "\r\n", sasl.ErrTooLarge, ""},
		{"too long 8 KiB", "-ERR " + strings.Repeat("z", 8192) + "\r\n", sasl.ErrTooLarge, ""},
		{"EOF", "", io.ErrUnexpectedEOF, ""},
		{"EOF mid-line", "+OK", io.ErrUnexpectedEOF, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := net.Pipe()
			defer cc.Close()
			errc := make(chan error, 1)
			go apopServeRaw(sc, ts, tt.reply, errc)
			tp := textproto.NewConn(cc)
			greeting, err := tp.ReadLine()
			require.NoError(t, err)
			err = Login(context.Background(), tp, cc, greeting, "u", "pw", apopInsecure)
			// Close our end so a server still writing a long reply ends.
			cc.Close()
			<-errc
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "apop: "), err.Error())
			assert.Contains(t, err.Error(), tt.text)
			assert.NotContains(t, err.Error(), "pw")
		})
	}
}

// apopServeRaw sends a greeting with timestamp ts, reads one command,
// writes reply as is and closes c.
func apopServeRaw(c net.Conn, ts, reply string, errc chan<- error) {
	defer c.Close()
	tp := textproto.NewConn(c)
	if err := tp.PrintfLine("+OK POP3 server ready %s", ts); err != nil {
		errc <- err
		return
	}
	if _, err := tp.ReadLine(); err != nil {
		errc <- err
		return
	}
	_, err := c.Write([]byte(reply))
	errc <- err
}

func TestLoginRefusesBeforeSending(t *testing.T) {
	for _, tt := range []struct {
		name, greeting string
		cfg            *ClientConfig
		want           error
	}{
		{"no TLS", "+OK <1.2@h>", nil, sasl.ErrNeedsTLS},
		{"no timestamp", "+OK ready", apopInsecure, ErrNoTimestamp},
		{"bad timestamp", "+OK <1.2\x80@h>", apopInsecure, ErrInvalidTimestamp},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tp := textproto.NewConn(apopRW{bufio.NewReader(strings.NewReader("+OK\r\n")), &out})
			err := Login(context.Background(), tp, apopNopConn{}, tt.greeting, "u", "pw", tt.cfg)
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, out.String(), "nothing may be sent, USER/PASS least of all")
		})
	}
}

type apopRW struct {
	*bufio.Reader
	w *bytes.Buffer
}

func (rw apopRW) Write(p []byte) (int, error) { return rw.w.Write(p) }
func (rw apopRW) Close() error                { return nil }

func TestLoginSentCommand(t *testing.T) {
	var out bytes.Buffer
	tp := textproto.NewConn(apopRW{bufio.NewReader(strings.NewReader("+OK\r\n")), &out})
	err := Login(context.Background(), tp, apopNopConn{}, "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "mrose", "tanstaaf", apopInsecure)
	require.NoError(t, err)
	assert.Equal(t, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n", out.String())
}

// TestLoginContext: ctx's deadline interrupts a server that never
// replies; the error wraps it and sasl.ErrOutOfStep, and the connection's
// deadline is cleared. Without a ctx deadline, the caller's own deadline on
// the connection still works.
func TestLoginContext(t *testing.T) {
	never := func(t *testing.T) net.Conn {
		cc, sc := net.Pipe()
		t.Cleanup(func() { cc.Close(); sc.Close() })
		go func() { // read the command, never reply
			_, _ = bufio.NewReader(sc).ReadString('\n')
		}()
		return cc
	}
	t.Run("ctx", func(t *testing.T) {
		cc := never(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := Login(ctx, textproto.NewConn(cc), cc, "+OK <1.2@h>", "u", "pw", apopInsecure)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, sasl.ErrOutOfStep)
	})
	t.Run("caller's deadline", func(t *testing.T) {
		cc := never(t)
		require.NoError(t, cc.SetDeadline(time.Now().Add(50*time.Millisecond)))
		err := Login(context.Background(), textproto.NewConn(cc), cc, "+OK <1.2@h>", "u", "pw", apopInsecure)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
		require.ErrorIs(t, err, sasl.ErrOutOfStep)
	})
}

// apopInsecure lets Login run over the in-memory connections of the tests.
var apopInsecure = &ClientConfig{InsecureAuth: true}

// apopNopConn is a connection without TLS whose deadlines do nothing, for
// Login over an in-memory textproto.Conn.
type apopNopConn struct{ net.Conn }

func (apopNopConn) SetDeadline(time.Time) error { return nil }

// apopTLSPipe returns the two ends of an in-memory TLS connection, with
// a self-signed certificate the client trusts.
func apopTLSPipe(t *testing.T) (client, server net.Conn) {
	kp, err := tlsutil.SelfSigned(&tlsutil.CertOptions{Hosts: []string{"pop.example.org"}})
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(kp.Leaf())
	cert := kp.Certificate
	c, s := net.Pipe()
	sc := tls.Server(s, tlsutil.NewServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }))
	cc := tls.Client(c, tlsutil.NewClientConfig("pop.example.org", pool))
	return cc, sc
}

// apopMsgID is an independent statement of the rule ParseGreeting enforces
// on the timestamp: an RFC 5322 msg-id with dot-atom-text on the left and
// dot-atom-text or a no-fold-literal on the right.
var apopMsgID = regexp.MustCompile("^<" +
	"[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+(?:\\.[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+)*" +
	"@(?:[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+(?:\\.[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+)*" +
	"|\\[[!-?A-Z^-~]*\\])>$")

func FuzzTimestamp(f *testing.F) {
	for _, v := range apopLoadVectors(f) {
		f.Add(v.Greeting)
	}
	f.Add("+OK <1.2@[192.0.2.1]>")
	f.Add("+OK <a@b@c>")
	f.Add("+OK >x<")
	f.Fuzz(func(t *testing.T, greeting string) {
		ts, err := ParseGreeting(greeting)
		if err != nil {
			if !errors.Is(err, ErrNoTimestamp) && !errors.Is(err, ErrInvalidTimestamp) && !errors.Is(err, sasl.ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "apop: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			if ts != "" {
				t.Fatalf("timestamp %q with error", ts)
			}
			return
		}
		if len(greeting) > maxLineLen || !strings.HasPrefix(greeting, "+OK") || !strings.Contains(greeting, ts) {
			t.Fatalf("accepted %q from %q", ts, greeting)
		}
		if len(ts) < minTimestampLen || len(ts) > maxTimestampLen || strings.Count(ts, "@") != 1 {
			t.Fatalf("accepted %q", ts)
		}
		for i := 0; i < len(ts); i++ {
			if ts[i] < 0x21 || ts[i] > 0x7e {
				t.Fatalf("accepted octet 0x%02x in %q", ts[i], ts)
			}
		}
		if !apopMsgID.MatchString(ts) {
			t.Fatalf("accepted %q, not a msg-id", ts)
		}
		if strings.Count(greeting, "<") != 1 || strings.Count(greeting, ">") != 1 {
			t.Fatalf("accepted an ambiguous greeting %q", greeting)
		}
		// What a client accepts, our server verifies.
		cmd, err := Command(apopTLS, greeting, "u", "pw", nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := apopTestServer(&ServerConfig{Plaintext: &apopTestLookup{users: map[string]string{"u": "pw"}}}, ts)
		if _, err := srv.Verify(context.Background(), apopTLS, strings.TrimPrefix(cmd, "APOP ")); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzAPOPCommand(f *testing.F) {
	const ts = "<1896.697170952@dbc.mtview.ca.us>"
	for _, v := range apopLoadVectors(f) {
		f.Add(v.Username + " " + v.Digest)
	}
	f.Add("mrose C4C9334BAC560ECC979E58001B3E22FB")
	f.Add("mrose c4c9334bac560ecc979e58001b3e22f")
	f.Add("mrose  c4c9334bac560ecc979e58001b3e22fb")
	f.Add("nobody c4c9334bac560ecc979e58001b3e22fb")
	lookup := &apopTestLookup{users: map[string]string{"mrose": "tanstaaf"}}
	want := apopRefDigest(ts, "tanstaaf")
	f.Fuzz(func(t *testing.T, args string) {
		srv := apopTestServer(&ServerConfig{Plaintext: lookup}, ts)
		id, err := srv.Verify(context.Background(), apopTLS, args)
		if err == nil {
			if args != "mrose "+want && !strings.EqualFold(args, "mrose "+want) || id.Username != "mrose" {
				t.Fatalf("accepted %q as %q", args, id.Username)
			}
			return
		}
		switch {
		case errors.Is(err, sasl.ErrAuthFailed), errors.Is(err, sasl.ErrMalformed), errors.Is(err, sasl.ErrTooLarge):
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if !strings.HasPrefix(err.Error(), "apop: ") || strings.Contains(err.Error(), "tanstaaf") {
			t.Fatalf("bad error text %q", err)
		}
		if len(args) > maxArgsLen && !errors.Is(err, sasl.ErrTooLarge) {
			t.Fatalf("overlong args: %v", err)
		}
	})
}

// BenchmarkAPOP times the server's verification of a parsed command (hex
// decode, MD5(timestamp ‖ secret), constant-time compare) beside one
// md5.Sum of the same input. The server starts from the MD5 state after the
// timestamp's first 64-octet block, computed once per connection, so it
// hashes one block where md5.Sum hashes two. Then the whole command path
// with a map lookup, and the client's command.
func BenchmarkAPOP(b *testing.B) {
	const secret = "tanstaaf"
	srv, err := NewServer(&ServerConfig{Hostname: "pop.example.org"})
	require.NoError(b, err)
	ts := srv.Timestamp()
	digestHex := apopRefDigest(ts, secret)
	in := []byte(ts + secret)
	var d [md5.Size]byte
	require.True(b, apopDecodeHex(&d, digestHex))
	sum := md5.Sum(in)
	require.Equal(b, sum, d, "raw reference and our digest differ")
	require.True(b, srv.check(secret, &d))

	b.Run("side=server", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var d [md5.Size]byte
			if !apopDecodeHex(&d, digestHex) || !srv.check(secret, &d) {
				b.Fatal("verification failed")
			}
		}
	})
	b.Run("raw=md5", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sum = md5.Sum(in)
		}
	})
	b.Run("side=server-command", func(b *testing.B) {
		srv := apopTestServer(&ServerConfig{Plaintext: &apopTestLookup{users: map[string]string{"mrose": secret}}}, ts)
		args := "mrose " + digestHex
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := srv.verify(ctx, args); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("side=server-command-unknown", func(b *testing.B) {
		// The same path for a name the store does not hold: compare with
		// side=server-command.
		srv := apopTestServer(&ServerConfig{Plaintext: apopLookupFunc(func(context.Context, string) (string, error) {
			return "", sasl.ErrUnknownUser
		})}, ts)
		args := "nobody " + digestHex
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := srv.verify(ctx, args); err != errAuthFailed {
				b.Fatal(err)
			}
		}
	})
	b.Run("side=server-new", func(b *testing.B) {
		// NewServer per connection: the timestamp (clock, 128 random
		// bits, no process id) and the precomputed MD5 state.
		cfg := &ServerConfig{Hostname: "pop.example.org"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewServer(cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("side=client", func(b *testing.B) {
		greeting := "+OK POP3 server ready " + ts
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Command(apopTLS, greeting, "mrose", secret, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzLoginReply feeds arbitrary server replies to Login's reply parser.
func FuzzLoginReply(f *testing.F) {
	for _, r := range []string{"+OK\r\n", "+OK maildrop ready\r\n", "-ERR [AUTH] no\r\n", "-ERR\n", "+OKAY\r\n", "", "+OK", strings.Repeat("+", 600) + "\r\n"} {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		var out bytes.Buffer
		tp := textproto.NewConn(apopRW{bufio.NewReader(strings.NewReader(reply)), &out})
		err := Login(context.Background(), tp, apopNopConn{}, "+OK <1.2@h>", "u", "pw", apopInsecure)
		if out.String() != "APOP u "+apopRefDigest("<1.2@h>", "pw")+"\r\n" {
			t.Fatalf("sent %q", out.String())
		}
		if err == nil {
			if !strings.HasPrefix(reply, "+OK") {
				t.Fatalf("accepted %q", reply)
			}
			return
		}
		switch {
		case errors.Is(err, sasl.ErrAuthFailed), errors.Is(err, sasl.ErrMalformed), errors.Is(err, sasl.ErrTooLarge), errors.Is(err, io.ErrUnexpectedEOF):
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if len(err.Error()) > 300 || strings.Contains(err.Error(), "pw") && !strings.Contains(reply, "pw") {
			t.Fatalf("bad error text %q", err)
		}
	})
}

// TestCheckLengths runs the midstate verification across the 64-octet block
// boundaries of timestamp and password, against crypto/md5 in one piece.
func TestCheckLengths(t *testing.T) {
	for _, tsLen := range []int{5, 33, 63, 64, 65, 127, 128, 129, 200, 255} {
		ts := "<" + strings.Repeat("a", tsLen-len("<@b>")) + "@b>"
		require.Len(t, ts, tsLen)
		srv := apopTestServer(&ServerConfig{}, ts)
		for _, pwLen := range []int{1, 8, 55, 56, 63, 64, 65, 200, 1000, 3} {
			pw := strings.Repeat("p", pwLen)
			var d [md5.Size]byte
			require.True(t, apopDecodeHex(&d, apopRefDigest(ts, pw)))
			assert.True(t, srv.check(pw, &d), "ts %d pw %d", tsLen, pwLen)
			assert.False(t, srv.check(pw+"x", &d), "ts %d pw %d", tsLen, pwLen)
			assert.Equal(t, make([]byte, len(srv.scratch)), srv.scratch, "password wiped")
			state, err := srv.md5.(encoding.BinaryMarshaler).MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, srv.mid, state, "md5 state back at mid")
		}
	}
	srv := apopTestServer(&ServerConfig{}, "<4242.1795789171.0123456789abcdef0123456789abcdef@pop.example.org>")
	var d [md5.Size]byte
	assert.Zero(t, testing.AllocsPerRun(100, func() { srv.check("tanstaaf", &d) }))
}
