package sasl

import "context"

// scramVerifyPassword checks a plaintext password (PLAIN, LOGIN) against the
// user's stored SCRAM keys.
//
// placeholder, replaced by the SCRAM implementation.
func scramVerifyPassword(ctx context.Context, lookup SCRAMLookup, username, password string) error {
	return ErrAuthFailed
}
