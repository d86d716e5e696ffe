package sasl

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scramReportingStore is a scramTestStore that reports the hashes it holds,
// as a CredentialReporter does.
type scramReportingStore struct {
	*scramTestStore
}

func (s scramReportingStore) HoldsCredentials(mech string) bool {
	return len(s.creds[mech]) > 0
}

// TestSCRAMVerifyPasswordLookups counts the store lookups PLAIN and LOGIN
// make to verify a password from SCRAM keys: one when the store reports the
// hash it holds; SHA-512, then SHA-256, then SHA-1 until one answers when it
// does not.
func TestSCRAMVerifyPasswordLookups(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		mech      string
		reporting bool
		calls     []string
	}{
		{SCRAMSHA256, true, []string{SCRAMSHA256}},
		{SCRAMSHA1, true, []string{SCRAMSHA1}},
		{SCRAMSHA512, true, []string{SCRAMSHA512}},
		{SCRAMSHA256, false, []string{SCRAMSHA512, SCRAMSHA256}},
		{SCRAMSHA1, false, []string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1}},
		{SCRAMSHA512, false, []string{SCRAMSHA512}},
	} {
		name := tt.mech
		if tt.reporting {
			name += "/reporting"
		}
		t.Run(name, func(t *testing.T) {
			c, err := NewSCRAMCredentials(tt.mech, "pencil", nil, 4096)
			require.NoError(t, err)
			st := scramOneUser(tt.mech, "u", c)
			var lookup SCRAMLookup = st
			if tt.reporting {
				lookup = scramReportingStore{st}
			}
			require.NoError(t, scramVerifyPassword(ctx, lookup, "u", "pencil"))
			assert.Equal(t, tt.calls, st.calls)

			st.calls = nil
			require.ErrorIs(t, scramVerifyPassword(ctx, lookup, "u", "wrong"), ErrAuthFailed)
			assert.Equal(t, tt.calls, st.calls, "a wrong password costs the same lookups")
		})
	}
	t.Run("strongest first", func(t *testing.T) {
		st := &scramTestStore{}
		for _, mech := range []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512} {
			c, err := NewSCRAMCredentials(mech, "pencil-"+mech, nil, 4096)
			require.NoError(t, err)
			st.add(mech, "u", c)
		}
		for _, lookup := range []SCRAMLookup{st, scramReportingStore{st}} {
			st.calls = nil
			require.NoError(t, scramVerifyPassword(ctx, lookup, "u", "pencil-"+SCRAMSHA512))
			assert.Equal(t, []string{SCRAMSHA512}, st.calls)
			require.ErrorIs(t, scramVerifyPassword(ctx, lookup, "u", "pencil-"+SCRAMSHA256), ErrAuthFailed)
		}
	})
	t.Run("reports none", func(t *testing.T) {
		st := &scramTestStore{}
		require.ErrorIs(t, scramVerifyPassword(ctx, scramReportingStore{st}, "u", "pencil"), ErrAuthFailed)
		assert.Empty(t, st.calls)
	})
}
