package sasl

// Placeholder: replaced by the mechanism's implementation.

// Plain is the PLAIN mechanism name (RFC 4616).
const Plain = "PLAIN"

func newPlainServer(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newPlainClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
