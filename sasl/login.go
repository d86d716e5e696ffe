package sasl

// Placeholder: replaced by the mechanism's implementation.

// Login is the LOGIN mechanism name.
const Login = "LOGIN"

func newLoginServer(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newLoginClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
