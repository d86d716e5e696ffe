package main

import (
	"strings"

	"github.com/go-mailauth/mailauth/apop"
	"github.com/go-mailauth/mailauth/sasl"
)

// Mechanisms that live outside package sasl. GSSAPI (package kpop) and
// NTLM (package ntlm) are wired in here when those packages exist: their
// Mechanism values join extraMechanisms, so probe rates them, and their
// client mechanisms go into sasl.ClientConfig in addExtraMechanisms, so
// login can choose them.

// extraMechanisms lists the schemes of this module outside package sasl.
func extraMechanisms() []sasl.Mechanism {
	return []sasl.Mechanism{apop.Mechanism()}
}

// addExtraMechanisms puts the client mechanisms of packages outside sasl
// into cfg. Until kpop and ntlm exist, asking for them is an error that
// says so.
func addExtraMechanisms(cfg *sasl.ClientConfig, o *loginOpts, cr credentials) error {
	switch strings.ToUpper(o.mech) {
	case "GSSAPI", "NTLM":
		return usagef("-mech %s: not in this build of mailauth yet", strings.ToUpper(o.mech))
	}
	return nil
}
