package sasl_test

import (
	"fmt"
	"net"

	"github.com/go-mailauth/mailauth/sasl"
)

// A Throttle brakes password guessing per client address. Share one
// between every listener of a server; the zero value has Dovecot's
// defaults (2 s failure delay, a 2 s to 15 s penalty per address).
func ExampleThrottle() {
	th := &sasl.Throttle{}
	cfg := &sasl.ServerConfig{Limiter: th /* , Passwords: db, ... */}
	_ = cfg

	// What a ServerSet does after a failed exchange from 192.0.2.1:
	delay := th.Failed(&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 51000})
	fmt.Println("answer the failure after", delay)
	fmt.Println("addresses remembered:", th.Len())
	// Output:
	// answer the failure after 2s
	// addresses remembered: 1
}
