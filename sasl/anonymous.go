package sasl

// Placeholder: replaced by the mechanism's implementation.

// Anonymous is the ANONYMOUS mechanism name (RFC 4505).
const Anonymous = "ANONYMOUS"

func newAnonymousServer(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newAnonymousClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
