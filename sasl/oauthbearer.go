package sasl

// Placeholder: replaced by the mechanism's implementation.

// OAuthBearer is the OAUTHBEARER mechanism name (RFC 7628).
const OAuthBearer = "OAUTHBEARER"

func newOAuthBearerServer(env *serverEnv, mech string) Server { return unimplementedServer{mech} }

func newOAuthBearerClientFor(cfg *ClientConfig, conn *ConnState, offered []string) (Client, error) {
	return unimplementedClient("")
}
