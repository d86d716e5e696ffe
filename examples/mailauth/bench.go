package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
)

const benchExample = `  mailauth bench -n 1000 -c 8 -mech SCRAM-SHA-256 -u alice imaps://127.0.0.1:993
  mailauth bench -n 500 -c 64 -mech PLAIN -noresume -u alice -ca ca.pem imap://localhost:143
  mailauth bench -d 30s -n 100000 -c 8 -u alice -json imaps://127.0.0.1:993 > run.json`

// Bounds of a run: a load generator must not be turned into a flood by a
// typo.
const (
	maxBenchLogins      = 1_000_000
	maxBenchConcurrency = 1024
	maxBenchDuration    = 30 * time.Minute
)

type benchOpts struct {
	login       loginOpts
	n, c        int
	d           time.Duration
	allowRemote bool
	progress    bool
}

// benchReport is a run's outcome; its JSON form is for scripts.
type benchReport struct {
	Target      string         `json:"target"`
	Mechanism   string         `json:"mechanism"`
	Transport   string         `json:"transport"`
	Resumption  bool           `json:"resumption"`
	Concurrency int            `json:"concurrency"`
	OK          int            `json:"ok"`
	Failed      int            `json:"failed"`
	Elapsed     time.Duration  `json:"elapsed_ns"`
	Rate        float64        `json:"logins_per_second"`
	Latency     latencies      `json:"latency_ms"`
	Handshake   latencies      `json:"tls_ms"`
	SASL        latencies      `json:"sasl_ms"`
	Resumed     int            `json:"resumed"`
	Errors      map[string]int `json:"errors"`
	FirstError  string         `json:"first_error,omitempty"`
}

type latencies struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func runBench(ctx context.Context, c *cli, args []string) error {
	fs := c.newFlags("bench", "[flags] scheme://[user@]host[:port]", benchExample)
	o := &benchOpts{}
	o.login.tls.register(fs)
	fs.IntVar(&o.n, "n", 200, fmt.Sprintf("number of logins (at most %d)", maxBenchLogins))
	fs.IntVar(&o.c, "c", 8, fmt.Sprintf("concurrent connections (at most %d)", maxBenchConcurrency))
	fs.DurationVar(&o.d, "d", time.Minute, fmt.Sprintf("stop after this long even if -n is not reached (at most %v)", maxBenchDuration))
	fs.StringVar(&o.login.mech, "mech", "", "`mechanism` to log in with (default: the strongest both sides support)")
	fs.StringVar(&o.login.user, "u", "", "`user` name (default: the URL's)")
	fs.BoolVar(&o.login.noResume, "noresume", false, "no TLS session resumption: a full handshake per login")
	fs.BoolVar(&o.login.noCache, "nocache", false, "no SCRAM client key cache: the client runs PBKDF2 on every login")
	fs.DurationVar(&o.login.timeout, "timeout", 10*time.Second, "bound on each login")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a target that is not on loopback (load-test only servers you run)")
	fs.BoolVar(&o.progress, "progress", false, "show the progress line even when stderr is not a terminal")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pw := secretFlags{what: "password", flagPfx: "password", defEnv: envPassword}
	pw.register(fs)
	tok := secretFlags{what: "token", flagPfx: "token", defEnv: envToken}
	tok.register(fs)
	if err := fs.Parse(args); err != nil {
		return parseErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return quietError{exitUsage}
	}
	switch {
	case o.n < 1 || o.n > maxBenchLogins:
		return usagef("-n must be 1 to %d", maxBenchLogins)
	case o.c < 1 || o.c > maxBenchConcurrency:
		return usagef("-c must be 1 to %d", maxBenchConcurrency)
	case o.d <= 0 || o.d > maxBenchDuration:
		return usagef("-d must be positive and at most %v", maxBenchDuration)
	}
	t, err := parseTarget(fs.Arg(0), "")
	if err != nil {
		return err
	}
	if o.login.user == "" {
		o.login.user = t.user
	}
	if !o.allowRemote {
		if err := checkLoopback(ctx, t.host); err != nil {
			return err
		}
	}
	creds, err := gatherCredentials(c, t, &o.login, &pw, &tok, "")
	if err != nil {
		return err
	}
	s, err := newSession(t, &o.login, creds)
	if err != nil {
		return err
	}
	var progress io.Writer
	if o.progress || isTerminal(c.stderr) {
		progress = c.stderr
	}
	rep := bench(ctx, s, o, progress)
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printBench(c.stdout, rep)
	}
	if rep.OK == 0 && rep.FirstError != "" {
		fmt.Fprintf(c.stderr, "mailauth: %s\n", rep.FirstError)
	}
	if rep.Failed > 0 {
		return quietError{exitFindings}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// checkLoopback refuses a target that is not on loopback: bench is for
// servers the user runs, and a load test of someone else's server is an
// attack.
func checkLoopback(ctx context.Context, host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return usagef("%s is not a loopback address; bench refuses it without -allow-remote", host)
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return &opError{host, "resolve", err}
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return usagef("%s resolves to %s, not loopback; bench refuses it without -allow-remote", host, ip.IP)
		}
	}
	return nil
}

// sample is one login's outcome.
type sample struct {
	total, handshake, sasl time.Duration
	resumed                bool
	mech                   string
	err                    error
}

// bench runs o.n logins, o.c at a time, for at most o.d.
func bench(ctx context.Context, s *session, o *benchOpts, progress io.Writer) *benchReport {
	ctx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	var next atomic.Int64
	var done, failed atomic.Int64
	samples := make([]sample, o.n)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(o.n) {
					return
				}
				t0 := time.Now()
				res, err := s.login(ctx, nil)
				sm := sample{total: time.Since(t0), err: err}
				if res != nil {
					sm.handshake, sm.sasl, sm.resumed, sm.mech = res.Handshake, res.SASL, res.Resumed, res.Chosen
				}
				if err != nil && ctx.Err() != nil {
					// Cut off by -d or an interrupt: not the server's error.
					samples[i] = sample{err: ctx.Err(), total: -1}
					return
				}
				samples[i] = sm
				done.Add(1)
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if progress == nil {
			return
		}
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				fmt.Fprint(progress, "\r\033[K")
				return
			case <-tick.C:
				d, f := done.Load(), failed.Load()
				el := time.Since(start).Seconds()
				fmt.Fprintf(progress, "\r\033[K%d/%d logins  %.1f/s  %d failed  %.0fs", d, o.n, float64(d)/el, f, el)
			}
		}
	}()
	wg.Wait()
	close(stopProgress)
	<-progressDone
	elapsed := time.Since(start)

	rep := &benchReport{
		Target: s.t.String(), Mechanism: s.o.mech, Transport: "STARTTLS", Resumption: !s.o.noResume,
		Concurrency: o.c, Elapsed: elapsed, Errors: map[string]int{},
	}
	if s.t.implicit {
		rep.Transport = "implicit TLS"
	}
	var total, hs, sl []time.Duration
	for _, sm := range samples {
		switch {
		case sm.total < 0 || sm.total == 0 && sm.err == nil:
			continue // cut off, or never started
		case sm.err != nil:
			rep.Failed++
			rep.Errors[causeOf(sm.err)]++
			if rep.FirstError == "" {
				rep.FirstError = oneLine(sm.err.Error())
			}
			continue
		}
		rep.OK++
		if rep.Mechanism == "" {
			rep.Mechanism = sm.mech
		}
		if sm.resumed {
			rep.Resumed++
		}
		total = append(total, sm.total)
		hs = append(hs, sm.handshake)
		sl = append(sl, sm.sasl)
	}
	rep.Rate = float64(rep.OK) / elapsed.Seconds()
	rep.Latency, rep.Handshake, rep.SASL = percentiles(total), percentiles(hs), percentiles(sl)
	return rep
}

// percentiles returns p50, p99 and max in milliseconds.
func percentiles(d []time.Duration) latencies {
	if len(d) == 0 {
		return latencies{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := int(p*float64(len(d))+0.5) - 1
		i = max(0, min(i, len(d)-1))
		return float64(d[i].Microseconds()) / 1000
	}
	return latencies{P50: at(0.50), P99: at(0.99), Max: float64(d[len(d)-1].Microseconds()) / 1000}
}

func printBench(w io.Writer, r *benchReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	resume := "on"
	if !r.Resumption {
		resume = "off"
	}
	fmt.Fprintf(tw, "target\t%s (%s, resumption %s, %d connections)\n", r.Target, r.Transport, resume, r.Concurrency)
	fmt.Fprintf(tw, "mechanism\t%s\n", r.Mechanism)
	fmt.Fprintf(tw, "logins\t%d ok, %d failed in %v: %.1f logins/s\n", r.OK, r.Failed, r.Elapsed.Round(time.Millisecond), r.Rate)
	fmt.Fprintf(tw, "latency\tp50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	fmt.Fprintf(tw, "  %s\tp50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d of %d resumed)\n", tlsLabel(r), r.Handshake.P50, r.Handshake.P99, r.Handshake.Max, r.Resumed, r.OK)
	fmt.Fprintf(tw, "  SASL\tp50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.SASL.P50, r.SASL.P99, r.SASL.Max)
	if r.Failed > 0 {
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.Errors {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(tw, "errors\t%d %s\n", r.Errors[k], k)
		}
		fmt.Fprintf(tw, "first error\t%s\n", r.FirstError)
	}
	tw.Flush()
}

// tlsLabel names what the TLS time covers: the handshake alone with
// implicit TLS; greeting, STARTTLS, handshake and capabilities with
// STARTTLS, which cannot be told apart from outside tlsutil.
func tlsLabel(r *benchReport) string {
	if r.Transport == "implicit TLS" {
		return "TLS handshake"
	}
	return "STARTTLS+handshake"
}
