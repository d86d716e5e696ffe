package sasl

// Placeholder: replaced by the mechanism's implementation.

// SCRAM mechanism names (RFC 5802, RFC 7677).
const (
	SCRAMSHA1       = "SCRAM-SHA-1"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	SCRAMSHA512     = "SCRAM-SHA-512"
	SCRAMSHA512Plus = "SCRAM-SHA-512-PLUS"
)

func newSCRAMServer(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newSCRAMClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
