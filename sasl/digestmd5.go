package sasl

// Placeholder: replaced by the mechanism's implementation.

// DigestMD5 is the DIGEST-MD5 mechanism name (RFC 2831).
const DigestMD5 = "DIGEST-MD5"

func newDigestMD5Server(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newDigestMD5ClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
