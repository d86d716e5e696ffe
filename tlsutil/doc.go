// Package tlsutil holds the TLS pieces a mail server or client needs around
// authentication: channel-binding data for SASL -PLUS mechanisms.
package tlsutil
