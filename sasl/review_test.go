package sasl

import (
	"context"
	"crypto/md5"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cross-mechanism checks of the security rules (DESIGN.md "Security
// rules", STYLE.md §4, §7): unknown users look like wrong passwords, store
// errors pass through unwrapped, state machines are single-use.

const (
	reviewUser = "alice"
	reviewPass = "correct-horse" // also a valid bearer token
)

// reviewStore implements every credential lookup from one user's password.
// With err set, every lookup and callback returns it instead.
type reviewStore struct {
	err error
}

func (s *reviewStore) known(user string) error {
	if s.err != nil {
		return s.err
	}
	if user != reviewUser {
		return fmt.Errorf("%w: review store", ErrUnknownUser)
	}
	return nil
}

func (s *reviewStore) VerifyPassword(_ context.Context, user, pass string) error {
	if err := s.known(user); err != nil {
		return err
	}
	if pass != reviewPass {
		return ErrAuthFailed
	}
	return nil
}

func (s *reviewStore) LookupPassword(_ context.Context, user string) (string, error) {
	return reviewPass, s.known(user)
}

func (s *reviewStore) LookupCRAMMD5(_ context.Context, user string) (CRAMMD5Secret, error) {
	return NewCRAMMD5Secret(reviewPass), s.known(user)
}

func (s *reviewStore) LookupDigestMD5(_ context.Context, user, realm string) ([16]byte, error) {
	return md5.Sum([]byte(user + ":" + realm + ":" + reviewPass)), s.known(user)
}

func (s *reviewStore) LookupSCRAM(_ context.Context, mech, user string) (SCRAMCredentials, error) {
	if err := s.known(user); err != nil {
		return SCRAMCredentials{}, err
	}
	salt := make([]byte, scramSaltBytes) // the length of the fake salt
	return NewSCRAMCredentials(mech, reviewPass, salt, scramDefaultIterations)
}

func (s *reviewStore) VerifyToken(_ context.Context, user, token string) (string, error) {
	if err := s.known(user); err != nil {
		return "", err
	}
	if token != reviewPass {
		return "", ErrAuthFailed
	}
	return user, nil
}

func (s *reviewStore) VerifyExternal(_ context.Context, _ *ConnState, authzid string) (string, error) {
	return reviewUser, s.err
}

// reviewPasswordMechs are the mechanisms that verify a user's password.
var reviewPasswordMechs = []string{Plain, Login, CRAMMD5, DigestMD5, SCRAMSHA1, SCRAMSHA256, SCRAMSHA512,
	OAuthBearer, XOAuth2} // the token ones: an unknown user vs a wrong token

// reviewServerConfigs are the ways a server can hold a password-derived
// credential; each mechanism is tried with each that enables it.
func reviewServerConfigs(st *reviewStore) map[string]*ServerConfig {
	all := []string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1, External, OAuthBearer, XOAuth2, Plain, Login, CRAMMD5, DigestMD5, Anonymous}
	anon := func(context.Context, string) error { return st.err }
	return map[string]*ServerConfig{
		"Passwords": {Passwords: st, InsecureAuth: true, Mechanisms: all},
		"Plaintext": {Plaintext: st, InsecureAuth: true, Mechanisms: all},
		"derived": {SCRAMSecret: []byte("test scram secret"), CRAMMD5: st, DigestMD5: st, SCRAM: st, Tokens: st, External: st, Anonymous: anon,
			InsecureAuth: true, Mechanisms: all},
	}
}

// reviewRun runs one exchange of mech with the given credentials and
// returns the server's challenges and both sides' errors.
func reviewRun(t *testing.T, cfg *ServerConfig, mech, user, pass string) (chals [][]byte, cerr, serr error) {
	t.Helper()
	set := NewServerSet(cfg, extTestConn(reviewUser))
	s, err := set.NewServer(context.Background(), mech)
	require.NoError(t, err)
	ccfg := &ClientConfig{Username: user, Password: pass, Token: pass, External: true, Anonymous: true,
		Mechanisms: []string{mech}, InsecureAuth: true}
	c, err := ccfg.NewClient([]string{mech}, nil)
	require.NoError(t, err)
	_, resp, err := c.Start()
	require.NoError(t, err)
	for range maxTestRounds {
		chal, done, err := s.Next(resp)
		if err != nil || done {
			return chals, nil, err
		}
		chals = append(chals, chal)
		if resp, err = c.Next(chal); err != nil {
			if resp != nil {
				// OAUTHBEARER and XOAUTH2 answer the error challenge
				// and fail: the server ends on that answer.
				_, _, serr = s.Next(resp)
			}
			return chals, err, serr
		}
		if resp == nil {
			resp = []byte{}
		}
	}
	t.Fatalf("%s did not finish", mech)
	return
}

// TestReviewUnknownUserLikeWrongPassword checks, for every password
// mechanism and every store shape, that an unknown user and a wrong
// password end in the same error value and text, after challenges of the
// same shape: neither the caller nor the peer can tell who exists.
func TestReviewUnknownUserLikeWrongPassword(t *testing.T) {
	st := &reviewStore{}
	for cname, cfg := range reviewServerConfigs(st) {
		for _, mech := range reviewPasswordMechs {
			if lookupMech(mech).serverOK(cfg) == false {
				continue
			}
			t.Run(cname+"/"+mech, func(t *testing.T) {
				_, cerr, serr := reviewRun(t, cfg, mech, reviewUser, reviewPass)
				require.NoError(t, cerr)
				require.NoError(t, serr)

				wchals, wcerr, wrong := reviewRun(t, cfg, mech, reviewUser, "wrong-password")
				uchals, ucerr, unknown := reviewRun(t, cfg, mech, "mallory", "wrong-password")
				if mech != OAuthBearer && mech != XOAuth2 { // their clients see the error challenge
					require.NoError(t, wcerr)
					require.NoError(t, ucerr)
				}
				assert.Equal(t, fmt.Sprint(wcerr), fmt.Sprint(ucerr))
				require.ErrorIs(t, wrong, ErrAuthFailed)
				require.ErrorIs(t, unknown, ErrAuthFailed)
				assert.NotErrorIs(t, unknown, ErrUnknownUser)
				assert.Equal(t, wrong.Error(), unknown.Error())
				assert.Equal(t, fmt.Sprintf("%T", wrong), fmt.Sprintf("%T", unknown))
				require.Len(t, uchals, len(wchals))
				for i := range wchals {
					if i == 0 && mech == CRAMMD5 {
						continue // sent before the username, of random length
					}
					assert.Len(t, uchals[i], len(wchals[i]), "challenge %d", i)
				}
			})
		}
	}
}

// reviewErr is a caller's own error type, as go-smtp's *smtp.SMTPError is:
// it must reach the caller as the same value.
type reviewErr struct{ code int }

func (e *reviewErr) Error() string { return fmt.Sprintf("review: store down (%d)", e.code) }

// TestReviewCallbackErrorsUnwrapped sends an error of the caller's own
// type through every lookup interface and callback of every mechanism and
// checks that the Server returns that very value.
func TestReviewCallbackErrorsUnwrapped(t *testing.T) {
	want := &reviewErr{451}
	st := &reviewStore{err: want}
	for cname, cfg := range reviewServerConfigs(st) {
		for i := range mechTable {
			mech := mechTable[i].name
			if mechTable[i].sec.ChannelBinding || !mechTable[i].serverOK(cfg) {
				continue
			}
			t.Run(cname+"/"+mech, func(t *testing.T) {
				_, cerr, serr := reviewRun(t, cfg, mech, reviewUser, reviewPass)
				require.NoError(t, cerr)
				assert.Same(t, want, serr, "%v", serr)
			})
		}
	}
	// Authorize is a callback too.
	for i := range mechTable {
		mech := mechTable[i].name
		if mechTable[i].sec.ChannelBinding {
			continue
		}
		t.Run("Authorize/"+mech, func(t *testing.T) {
			st := &reviewStore{}
			cfg := reviewServerConfigs(st)["derived"]
			if !mechTable[i].serverOK(cfg) {
				cfg = reviewServerConfigs(st)["Passwords"]
			}
			cfg.Authorize = func(context.Context, Identity) error { return want }
			_, cerr, serr := reviewRun(t, cfg, mech, reviewUser, reviewPass)
			require.NoError(t, cerr)
			assert.Same(t, want, serr, "%v", serr)
		})
	}
}

// TestReviewSingleUse checks that every Server refuses a response after it
// has finished, by success or by failure, and every Client refuses a
// challenge after its last answer.
func TestReviewSingleUse(t *testing.T) {
	st := &reviewStore{}
	cfg := reviewServerConfigs(st)["derived"]
	cfg.Plaintext = st
	for i := range mechTable {
		m := &mechTable[i]
		if m.sec.ChannelBinding {
			continue
		}
		for _, pass := range []string{reviewPass, "wrong password"} {
			t.Run(m.name+"/"+pass, func(t *testing.T) {
				set := NewServerSet(cfg, extTestConn(reviewUser))
				s, err := set.NewServer(context.Background(), m.name)
				require.NoError(t, err)
				ccfg := &ClientConfig{Username: reviewUser, Password: pass, Token: pass, External: true,
					Anonymous: true, Mechanisms: []string{m.name}, InsecureAuth: true}
				c, err := ccfg.NewClient([]string{m.name}, nil)
				require.NoError(t, err)
				_, resp, err := c.Start()
				require.NoError(t, err)
				var serr error
				var chals [][]byte
				for range maxTestRounds {
					var chal []byte
					var done bool
					chal, done, serr = s.Next(resp)
					if serr != nil || done {
						break
					}
					chals = append(chals, chal)
					resp, err = c.Next(chal)
					if err != nil {
						break
					}
					if resp == nil {
						resp = []byte{}
					}
				}
				if serr == nil && err != nil {
					// The client gave up (OAUTHBEARER, XOAUTH2 after the
					// error challenge answer): the server gets its answer.
					_, _, serr = s.Next([]byte{0x01})
				}
				for _, r := range [][]byte{nil, {}, []byte("x"), resp} {
					_, _, err := s.Next(r)
					assert.ErrorIs(t, err, ErrUnexpectedClientResponse, "response %q after the end", r)
				}
				if len(chals) == 0 {
					// A client with an initial response answers one empty
					// challenge with it again, since it cannot know the
					// protocol layer sent it (RFC 4422, Section 5); that
					// is its last answer.
					c.Next([]byte{})
				}
				for _, ch := range append(chals, []byte{}, []byte("x")) {
					_, err := c.Next(ch)
					assert.Error(t, err, "challenge %q after the end", ch)
				}
			})
		}
	}
}

// TestReviewDoneAfterError checks that a Server that returned an error for
// a second absent response refuses everything after it, including a
// well-formed message: an error ends the exchange.
func TestReviewDoneAfterError(t *testing.T) {
	st := &reviewStore{}
	cfg := reviewServerConfigs(st)["derived"]
	cfg.Plaintext = st
	for i := range mechTable {
		m := &mechTable[i]
		if m.sec.ChannelBinding {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			s, err := NewServerSet(cfg, extTestConn(reviewUser)).NewServer(context.Background(), m.name)
			require.NoError(t, err)
			ccfg := &ClientConfig{Username: reviewUser, Password: reviewPass, Token: reviewPass, External: true,
				Anonymous: true, Mechanisms: []string{m.name}, InsecureAuth: true}
			c, err := ccfg.NewClient([]string{m.name}, nil)
			require.NoError(t, err)
			_, ir, err := c.Start()
			require.NoError(t, err)
			_, done, err := s.Next(nil)
			require.NoError(t, err)
			require.False(t, done)
			_, _, err = s.Next(nil)
			if err == nil {
				return // a nil response is a valid answer here
			}
			if ir == nil {
				ir = []byte{}
			}
			_, _, err = s.Next(ir)
			assert.ErrorIs(t, err, ErrUnexpectedClientResponse)
		})
	}
}

// TestReviewSCRAMIterOverflow: a count that overflows int must be refused
// as too large even when ClientConfig.MaxIterations is MaxInt, not wrap
// around to a small count.
func TestReviewSCRAMIterOverflow(t *testing.T) {
	for _, s := range []string{
		"18446744073709555712", // 2^64 + 4096: wrapped to 4096
		"9223372036854775808",  // MaxInt + 1
		"99999999999999999999999",
	} {
		n, err := scramParseIter([]byte(s), scramMinIterations, math.MaxInt)
		assert.ErrorIs(t, err, ErrTooLarge, "%s parsed as %d", s, n)
	}
	n, err := scramParseIter([]byte("9223372036854775807"), scramMinIterations, math.MaxInt)
	require.NoError(t, err)
	assert.Equal(t, math.MaxInt, n)
	n, err = scramParseIter([]byte("4096"), scramMinIterations, 4096)
	require.NoError(t, err)
	assert.Equal(t, 4096, n)
	_, err = scramParseIter([]byte("4097"), scramMinIterations, 4096)
	assert.ErrorIs(t, err, ErrTooLarge)
}

// reviewReadOnlyVars are package-level vars of sasl and sasl/passdb that
// are tables no code writes, kept as vars because Go has no constant
// arrays of structs with funcs.
var reviewReadOnlyVars = map[string]bool{
	"mechTable": true, // mechs.go: the mechanism table, indexed by pointer
}

// TestReviewNoMutablePackageVars checks the rule "no package var changes
// after program start, no init()" (STYLE.md §7) by reading the source of
// sasl and sasl/passdb: a package-level var may only be a blank interface
// check, a sentinel error, a sync.OnceValue, or a listed read-only table.
func TestReviewNoMutablePackageVars(t *testing.T) {
	for _, dir := range []string{".", "passdb"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		require.NoError(t, err)
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			require.NoError(t, err)
			for _, decl := range f.Decls {
				if fd, ok := decl.(*ast.FuncDecl); ok {
					assert.False(t, fd.Recv == nil && fd.Name.Name == "init", "%s: init()", path)
					continue
				}
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if name.Name == "_" || reviewReadOnlyVars[name.Name] {
							continue
						}
						ok := false
						if i < len(vs.Values) {
							switch v := vs.Values[i].(type) {
							case *ast.CallExpr:
								fn := reviewExprString(v.Fun)
								ok = fn == "errors.New" || fn == "fmt.Errorf" || fn == "sync.OnceValue"
							case *ast.SelectorExpr:
								ok = strings.HasPrefix(v.Sel.Name, "Err") // re-exported sentinel
							}
						}
						assert.True(t, ok, "%s: package-level var %s is neither a sentinel error nor a sync.OnceValue", path, name.Name)
					}
				}
			}
		}
	}
}

func reviewExprString(e ast.Expr) string {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		if x, ok := sel.X.(*ast.Ident); ok {
			return x.Name + "." + sel.Sel.Name
		}
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// reviewSCRAMOnly is a store that holds SCRAM-SHA-256 keys only.
type reviewSCRAMOnly struct{ c SCRAMCredentials }

func (s reviewSCRAMOnly) LookupSCRAM(_ context.Context, mech, user string) (SCRAMCredentials, error) {
	if user != reviewUser || mech != SCRAMSHA256 {
		return SCRAMCredentials{}, ErrUnknownUser
	}
	return s.c, nil
}

// TestReviewPlainFromSCRAMUnknownUserCost: PLAIN verified against stored
// SCRAM keys must spend on an unknown user the PBKDF2 a real user costs,
// ServerConfig.SCRAMIterations, not a fixed 4096, or the time taken tells
// who exists. The counts differ 25-fold, so the check is a loose ratio.
func TestReviewPlainFromSCRAMUnknownUserCost(t *testing.T) {
	if testing.Short() {
		t.Skip("PBKDF2 at 100k iterations")
	}
	const iter = 100_000
	c, err := NewSCRAMCredentials(SCRAMSHA256, reviewPass, make([]byte, scramSaltBytes), iter)
	require.NoError(t, err)
	cfg := &ServerConfig{SCRAMSecret: []byte("test scram secret"), SCRAM: reviewSCRAMOnly{c}, SCRAMIterations: iter}
	cost := func(user string) time.Duration {
		best := time.Duration(math.MaxInt64)
		for range 3 {
			s := NewPlainServer(context.Background(), cfg)
			start := time.Now()
			_, _, err := s.Next([]byte("\x00" + user + "\x00wrong password"))
			best = min(best, time.Since(start))
			require.ErrorIs(t, err, ErrAuthFailed)
		}
		return best
	}
	wrong, unknown := cost(reviewUser), cost("mallory")
	assert.Greater(t, unknown, wrong/4, "unknown user %v, wrong password %v", unknown, wrong)
}

// TestReviewNilClientConfig: a nil *ClientConfig is the zero one, as a nil
// *tls.Config is for tls.Dial; it fails with ErrNoMechanism, not a panic.
func TestReviewNilClientConfig(t *testing.T) {
	var cfg *ClientConfig
	require.NotPanics(t, func() {
		_, err := cfg.NewClient([]string{Plain, SCRAMSHA256}, nil)
		assert.ErrorIs(t, err, ErrNoMechanism)
	})
}

// reviewStandalone makes the Server of mech with its standalone
// constructor, which for PLAIN (plainOwnedServer) is another code path
// than a ServerSet's.
func reviewStandalone(t *testing.T, cfg *ServerConfig, mech string) Server {
	ctx := context.Background()
	switch mech {
	case Plain:
		return NewPlainServer(ctx, cfg)
	case Login:
		return NewLoginServer(ctx, cfg)
	case CRAMMD5:
		return NewCRAMMD5Server(ctx, cfg)
	case DigestMD5:
		return NewDigestMD5Server(ctx, cfg)
	case OAuthBearer:
		return NewOAuthBearerServer(ctx, cfg)
	case XOAuth2:
		return NewXOAuth2Server(ctx, cfg)
	case External:
		return NewExternalServer(ctx, cfg, nil)
	case Anonymous:
		return NewAnonymousServer(ctx, cfg)
	}
	s, err := NewSCRAMServer(ctx, cfg, mech, nil)
	require.NoError(t, err)
	return s
}

// TestReviewStandaloneServers repeats the unknown-user and the
// caller-error checks with the standalone constructors.
func TestReviewStandaloneServers(t *testing.T) {
	want := &reviewErr{452}
	for cname, cfg := range reviewServerConfigs(&reviewStore{}) {
		for i := range mechTable {
			m := &mechTable[i]
			if m.sec.ChannelBinding || !m.serverOK(cfg) {
				continue
			}
			t.Run(cname+"/"+m.name, func(t *testing.T) {
				run := func(cfg *ServerConfig, user, pass string) (error, error) {
					ccfg := &ClientConfig{Username: user, Password: pass, Token: pass, External: true,
						Anonymous: true, Mechanisms: []string{m.name}, InsecureAuth: true}
					c, err := ccfg.NewClient([]string{m.name}, nil)
					require.NoError(t, err)
					s := reviewStandalone(t, cfg, m.name)
					cerr, serr := runExchange(t, c, s)
					if cerr != nil && serr == nil {
						_, _, serr = s.Next([]byte{0x01}) // the answer to an error challenge
					}
					return cerr, serr
				}
				cerr, serr := run(cfg, reviewUser, reviewPass)
				require.NoError(t, cerr)
				require.NoError(t, serr)
				if m.name != External && m.name != Anonymous {
					_, wrong := run(cfg, reviewUser, "wrong-password")
					_, unknown := run(cfg, "mallory", "wrong-password")
					require.ErrorIs(t, wrong, ErrAuthFailed)
					assert.Equal(t, wrong.Error(), unknown.Error())
				}
				bad := reviewServerConfigs(&reviewStore{err: want})[cname]
				_, serr = run(bad, reviewUser, reviewPass)
				assert.Same(t, want, serr, "%v", serr)
			})
		}
	}
}
