package sasl

import (
	"fmt"
	"strings"
)

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// NewClient chooses the strongest mechanism that the server offers (offered,
// as advertised in CAPABILITY, EHLO or CAPA), that cfg's credentials can
// use, and that is safe on conn, and returns its Client.
//
// Mechanisms that need TLS (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, OAUTHBEARER,
// XOAUTH2) are never chosen on a connection without TLS unless
// cfg.InsecureAuth is set: without TLS the server's list itself may come
// from an attacker. A -PLUS variant is chosen only when conn has
// channel-binding data. It returns an error wrapping ErrNoMechanism if
// nothing fits. A nil cfg is the zero ClientConfig: it has no credentials.
func (cfg *ClientConfig) NewClient(offered []string, conn *ConnState) (Client, error) {
	if cfg == nil {
		cfg = &ClientConfig{} // as tls.Dial treats a nil *tls.Config
	}
	if conn == nil {
		conn = &ConnState{}
	}
	order := cfg.Mechanisms
	if order == nil {
		order = make([]string, len(mechTable))
		for i := range mechTable {
			order[i] = mechTable[i].name
		}
	}
	for _, name := range order {
		m := lookupMech(name)
		if m == nil || !containsFold(offered, m.name) || !m.clientOK(cfg) {
			continue
		}
		if m.sec.NeedsTLS && !conn.isTLS() && !(cfg.InsecureAuth && !m.sec.ChannelBinding) {
			continue
		}
		if m.sec.ChannelBinding && !conn.isTLS() {
			continue
		}
		c, err := m.newClient(cfg, conn, offered)
		if err != nil {
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: server offers %s", ErrNoMechanism, truncate(strings.Join(offered, " "), 200))
}
