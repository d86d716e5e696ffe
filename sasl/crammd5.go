package sasl

// Placeholder: replaced by the mechanism's implementation.

// CRAMMD5 is the CRAM-MD5 mechanism name (RFC 2195).
const CRAMMD5 = "CRAM-MD5"

func newCRAMMD5Server(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newCRAMMD5ClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
