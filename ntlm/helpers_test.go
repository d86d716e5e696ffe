package ntlm

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-mailauth/mailauth/sasl"
)

// hashStore is an NTHashLookup over a map.
type hashStore map[string][16]byte

func (h hashStore) LookupNTHash(_ context.Context, u string) ([16]byte, error) {
	if v, ok := h[u]; ok {
		return v, nil
	}
	return [16]byte{}, errNotInStore
}

var errNotInStore = fmt.Errorf("%w: not in the test store", sasl.ErrUnknownUser)

// vectors is research/ntlm-vectors.json, the MS-NLMP 4.2 values and the
// Windows 7 capture.
type vectors struct {
	Common struct {
		User            string
		UserDomain      string `json:"user_domain"`
		Password        string
		ServerChallenge string `json:"server_challenge"`
		ClientChallenge string `json:"client_challenge"`
	} `json:"common_4_2_1"`
	V1 struct {
		NTOWFv1          string
		ChallengeMessage string `json:"challenge_message"`
		AuthMessage      string `json:"authenticate_message"`
	} `json:"ntlmv1_4_2_2"`
	V1CC struct {
		ChallengeMessage string `json:"challenge_message"`
		AuthMessage      string `json:"authenticate_message"`
	} `json:"ntlmv1_client_challenge_4_2_3"`
	V2 struct {
		NTOWFv2          string
		LMv2             string `json:"LMv2_response"`
		NTProofStr       string
		Temp             string `json:"ntlmv2_client_challenge_blob_temp"`
		SessionBaseKey   string `json:"session_base_key"`
		TargetInfo       string `json:"target_info"`
		ChallengeMessage string `json:"challenge_message"`
		AuthMessage      string `json:"authenticate_message"`
	} `json:"ntlmv2_4_2_4"`
	Win7 struct {
		User, Password, Domain string
		NTHash                 string `json:"nt_hash"`
		ServerChallenge        string `json:"server_challenge"`
		ServerTime             string `json:"server_time_filetime"`
		ChallengeMessage       string `json:"challenge_message"`
		AuthMessage            string `json:"authenticate_message"`
		MIC                    string `json:"mic"`
		MICOffset              int    `json:"mic_offset"`
		ChannelBindings        string `json:"channel_bindings_hash"`
		NTProofStr             string
	} `json:"windows7_capture_with_mic_and_channel_bindings"`
	Extra struct {
		NonBMP struct {
			Password string
			NTOWFv1  string
		} `json:"NTOWFv1_non_BMP_password"`
	} `json:"extra"`
}

func loadVectors(tb testing.TB) vectors {
	tb.Helper()
	b, err := os.ReadFile("testdata/ntlm/vectors.json")
	require.NoError(tb, err)
	var v vectors
	require.NoError(tb, json.Unmarshal(b, &v))
	return v
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(tb, err)
	return b
}

// fixedServer returns a server whose challenge is chal and whose clock is
// at, for replaying recorded exchanges.
func fixedServer(cfg ServerConfig, chal []byte, at time.Time) *server {
	cfg.rand = bytes.NewReader(chal)
	cfg.now = func() time.Time { return at }
	return newServer(context.Background(), &cfg, nil)
}

// fromFiletime is the inverse of filetime.
func fromFiletime(ft int64) time.Time {
	ft -= 116444736000000000
	return time.Unix(ft/10_000_000, (ft%10_000_000)*100).UTC()
}

// exchange runs our client against our server in memory and returns the
// server's error (nil: success) and both sides' messages.
type transcript struct {
	negotiate, challenge, authenticate []byte
}

func runExchange(t *testing.T, c *client, s *server) (transcript, error) {
	t.Helper()
	var tr transcript
	tr.negotiate = c.start()
	ch, done, err := s.next(tr.negotiate)
	require.NoError(t, err)
	require.False(t, done)
	tr.challenge = ch
	tr.authenticate, err = c.next(ch)
	require.NoError(t, err)
	_, done, err = s.next(tr.authenticate)
	if err == nil {
		require.True(t, done)
	}
	return tr, err
}

// authFields builds an AUTHENTICATE message from its parts, payload at
// payloadAt (64, 72 or 88), fields in the order LM, NT, domain, user,
// workstation, session key.
func authFields(flags uint32, payloadAt int, parts ...[]byte) []byte {
	msg := make([]byte, payloadAt)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeAuthenticate)
	binary.LittleEndian.PutUint32(msg[60:], flags)
	for i := range 6 {
		var p []byte
		if i < len(parts) {
			p = parts[i]
		}
		putField(msg, 12+8*i, len(msg), len(p))
		msg = append(msg, p...)
	}
	return msg
}

func b64(tb testing.TB, s string) ([]byte, error) {
	tb.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(tb, err)
	return b, err
}

func utf16le(s string) []byte { return appendUTF16(nil, s) }

func hashHex(pw string) string {
	h := Hash(pw)
	return hex.EncodeToString(h[:])
}

// hmacMD5 is the test reference.
func hmacMD5(key, data []byte) [16]byte {
	return hmacMD5Parts(key, data)
}

func hmacMD5Parts(key []byte, parts ...[]byte) [16]byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	var out [16]byte
	h.Sum(out[:0])
	return out
}
