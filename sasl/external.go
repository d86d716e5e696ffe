package sasl

// Placeholder: replaced by the mechanism's implementation.

// External is the EXTERNAL mechanism name (RFC 4422, Appendix A).
const External = "EXTERNAL"

func newExternalServer(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newExternalClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
