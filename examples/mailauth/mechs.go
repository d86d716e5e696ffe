package main

import (
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/kpop"
	"github.com/go-mailauth/mailauth/ntlm"
	"github.com/go-mailauth/mailauth/sasl"
)

// Mechanisms that live outside package sasl: APOP (package apop), NTLM
// (package ntlm) and GSSAPI (package kpop). Their Mechanism values join
// extraMechanisms, so probe rates them; their client mechanisms go into
// sasl.ClientConfig.Extra in addExtraMechanisms, so login chooses them
// under the same policy as the built-in ones.

// extraMechanisms lists the schemes of this module outside package sasl.
func extraMechanisms() []sasl.Mechanism {
	return []sasl.Mechanism{apop.Mechanism(), ntlm.Mechanism(), kpop.GSSAPIMechanism()}
}

// krbFlags say where GSSAPI's Kerberos credentials come from.
type krbFlags struct {
	principal string // default: the user name
	keytab    string // keytab file; default $KRB5_CLIENT_KTNAME
	ccache    string // credential cache; default $KRB5CCNAME
	conf      string // krb5.conf; default $KRB5_CONFIG or /etc/krb5.conf
	host      string // the service principal's host; default -servername or the URL's
}

// addExtraMechanisms puts the client mechanisms of packages outside sasl
// into cfg: NTLM whenever there is a password (it is legacy, so it is
// chosen only when nothing stronger is offered), GSSAPI when asked for.
func addExtraMechanisms(cfg *sasl.ClientConfig, t target, o *loginOpts, cr credentials) error {
	mech := strings.ToUpper(o.mech)
	if cr.password != "" && (mech == "" || mech == ntlm.MechanismName) {
		cfg.Extra = append(cfg.Extra, ntlm.NewClientMechanism(&ntlm.ClientConfig{
			Username: o.user, Password: cr.password,
			// MsvAvTargetName, so servers that check it (Extended
			// Protection) know whom the client meant.
			TargetName: t.service() + "/" + t.host,
		}))
	}
	if mech != kpop.GSSAPI {
		return nil
	}
	creds, err := kerberosCredentials(o, cr)
	if err != nil {
		return err
	}
	// The service principal's host: the name the KDC knows, which may
	// differ from the name the certificate is for.
	host := o.krb.host
	if host == "" {
		host = t.host
		if o.tls.serverName != "" {
			host = o.tls.serverName
		}
	}
	kc := &kpop.ClientConfig{Credentials: creds, Host: host, Authzid: o.authzid}
	cfg.Extra = append(cfg.Extra, kc.ClientMechanism(t.service()))
	return nil
}

// kerberosCredentials logs in to Kerberos: with the keytab, else with the
// password, else from the credential cache (kinit's).
func kerberosCredentials(o *loginOpts, cr credentials) (*kpop.Credentials, error) {
	conf, err := kpop.LoadConfig(o.krb.conf)
	if err != nil {
		return nil, fmt.Errorf("krb5.conf: %w", err)
	}
	principal := o.krb.principal
	if principal == "" {
		principal = o.user
	}
	switch {
	case cr.keytab != "":
		if principal == "" {
			return nil, usagef("-keytab needs -principal or -u")
		}
		kt, err := keytab.Load(strings.TrimPrefix(cr.keytab, "FILE:"))
		if err != nil {
			return nil, fmt.Errorf("keytab: %w", err)
		}
		return kpop.NewKeytabCredentials(conf, principal, kt)
	case cr.password != "":
		if principal == "" {
			return nil, usagef("GSSAPI with a password needs -principal or -u")
		}
		return kpop.NewPasswordCredentials(conf, principal, cr.password)
	}
	return kpop.NewCCacheCredentials(conf, o.krb.ccache)
}
