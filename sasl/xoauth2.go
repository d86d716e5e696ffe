package sasl

// Placeholder: replaced by the mechanism's implementation.

// XOAuth2 is the XOAUTH2 mechanism name (Google and Microsoft).
const XOAuth2 = "XOAUTH2"

func newXOAuth2Server(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newXOAuth2ClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
