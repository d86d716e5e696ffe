package tlsutil

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultMaxPendingHandshakes bounds the handshakes a [Listener] runs at
// once. Each holds a goroutine and a socket for up to the handshake
// timeout, so without a bound a client opening connections and sending
// nothing could exhaust memory or file descriptors. At the bound a new
// connection makes the oldest handshake still in progress give way (it is
// closed), so stalled clients cannot keep a real one waiting for the
// handshake timeout; only when every slot holds a finished handshake that
// Accept has not yet taken does the Listener stop accepting, and the
// kernel's backlog queues new connections.
const DefaultMaxPendingHandshakes = 1024

// ListenerOptions are the optional settings of a [Listener]. The zero value
// (or nil) gives the defaults.
type ListenerOptions struct {
	// HandshakeTimeout bounds each connection's TLS handshake, from accept
	// to completion (checklist S9). Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxPendingHandshakes bounds the handshakes in progress. Zero means
	// DefaultMaxPendingHandshakes.
	MaxPendingHandshakes int
	// OnHandshakeError, if not nil, is called with the client's address and
	// the error of each failed handshake (a plaintext client gets an error
	// wrapping ErrNotTLS, a stalled one context.DeadlineExceeded), for
	// logging. It is called from the handshake's goroutine, so it must be
	// safe for concurrent use.
	OnHandshakeError func(remote net.Addr, err error)
}

// Listener is an implicit-TLS listener (RFC 8314, Section 3: ports 993,
// 995 and 465): TLS starts when the client connects, before any protocol
// byte. Accept returns only connections whose handshake has completed, so
// the protocol greeting, which the caller writes after Accept returns,
// never goes out in plaintext (checklist S10). A client whose first bytes
// are not a TLS handshake record (a plaintext "A1 CAPABILITY" or "EHLO")
// is closed without any reply. Handshakes run concurrently, each in its own
// goroutine and bounded by HandshakeTimeout, so a slow client does not
// delay the others.
//
// The connections Accept returns are *tls.Conn made by [Server]:
// [ServedCertificate] gives the leaf each was served. A Listener is safe
// for concurrent use.
type Listener struct {
	inner   net.Listener
	config  *tls.Config
	timeout time.Duration
	onError func(net.Addr, error)
	max     int // MaxPendingHandshakes

	mu      sync.Mutex
	pending list.List     // *listenerHS, oldest first: handshakes not yet taken by Accept
	freed   chan struct{} // a slot was freed (capacity 1: a wake-up, not a count)

	start   sync.Once
	ready   chan *tls.Conn  // handshaken connections
	errc    chan error      // errors from inner.Accept
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	closing sync.Once
}

// NewListener returns an implicit-TLS Listener that accepts connections
// from inner and runs the TLS handshake with config (usually from
// [NewServerConfig]). opts may be nil. config must not be modified after
// the call. Closing the Listener closes inner.
func NewListener(inner net.Listener, config *tls.Config, opts *ListenerOptions) *Listener {
	if opts == nil {
		opts = &ListenerOptions{}
	}
	l := &Listener{
		inner:   inner,
		config:  config,
		timeout: opts.HandshakeTimeout,
		onError: opts.OnHandshakeError,
		ready:   make(chan *tls.Conn),
		errc:    make(chan error),
		freed:   make(chan struct{}, 1),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if l.timeout <= 0 {
		l.timeout = DefaultHandshakeTimeout
	}
	l.max = opts.MaxPendingHandshakes
	if l.max <= 0 {
		l.max = DefaultMaxPendingHandshakes
	}
	return l
}

// Listen announces on the local network address (net.Listen) and returns
// an implicit-TLS [Listener] on it. opts may be nil.
func Listen(network, address string, config *tls.Config, opts *ListenerOptions) (*Listener, error) {
	inner, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return NewListener(inner, config, opts), nil
}

// Accept waits for the next connection whose TLS handshake has completed
// and returns it; its type is *tls.Conn. Connections whose handshake fails
// are closed and never returned (see ListenerOptions.OnHandshakeError).
// Errors of the underlying listener are returned as they are, so a caller's
// retry on temporary errors keeps working; after Close, Accept returns
// net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.ready:
		// select picks at random among ready cases: a handshake that
		// finished as Close ran may win over ctx.Done. Never hand out a
		// connection after Close.
		if l.ctx.Err() != nil {
			_ = c.Close()
			return nil, fmt.Errorf("tlsutil: accept: %w", net.ErrClosed)
		}
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.ctx.Done():
		return nil, fmt.Errorf("tlsutil: accept: %w", net.ErrClosed)
	}
}

// Close stops accepting, closes the underlying listener and every
// connection still in its handshake or not yet returned by Accept.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closing.Do(func() {
		l.cancel()
		err = l.inner.Close()
	})
	return err
}

// Addr returns the underlying listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// listenerHS is one connection from accept until Accept takes it.
type listenerHS struct {
	ctx    context.Context // from accept: the handshake's deadline, Close, eviction
	cancel context.CancelFunc
	done   bool // handshake finished: waiting for Accept, not evictable
	el     *list.Element
}

// acceptLoop accepts raw connections and starts a handshake for each.
func (l *Listener) acceptLoop() {
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Hand the error to Accept's caller, which decides whether to
			// retry (and how fast), as with a plain net.Listener.
			select {
			case l.errc <- err:
				continue
			case <-l.ctx.Done():
				return
			}
		}
		hs, ok := l.admit()
		if !ok {
			_ = raw.Close()
			return
		}
		go l.handshake(raw, hs)
	}
}

// admit takes a slot for a new connection. At the bound the oldest
// handshake still in progress gives way: a client that has sent nothing
// (or too little) for longest is the likeliest to be stalled, and a real
// handshake takes milliseconds, so a flood of stalled connections delays a
// real client by no more than it takes to accept them. If every slot holds
// a finished handshake waiting for Accept, admit waits for one to free.
// It reports false after Close.
func (l *Listener) admit() (*listenerHS, bool) {
	for {
		l.mu.Lock()
		if l.pending.Len() >= l.max {
			for e := l.pending.Front(); e != nil; e = e.Next() {
				if old := e.Value.(*listenerHS); !old.done {
					l.pending.Remove(e)
					old.el = nil
					old.cancel() // its goroutine closes the connection
					break
				}
			}
		}
		if l.pending.Len() < l.max {
			ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
			hs := &listenerHS{ctx: ctx, cancel: cancel}
			hs.el = l.pending.PushBack(hs)
			l.mu.Unlock()
			return hs, true
		}
		l.mu.Unlock()
		select {
		case <-l.freed:
		case <-l.ctx.Done():
			return nil, false
		}
	}
}

// release gives hs's slot back.
func (l *Listener) release(hs *listenerHS) {
	l.mu.Lock()
	if hs.el != nil {
		l.pending.Remove(hs.el)
		hs.el = nil
	}
	l.mu.Unlock()
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// handshake completes the TLS handshake on raw and hands the connection to
// Accept, or closes it.
func (l *Listener) handshake(raw net.Conn, hs *listenerHS) {
	defer l.release(hs)
	// hs.ctx is derived from l.ctx: Close, eviction (admit) and the
	// timeout cancel the handshake, and HandshakeContext then closes the
	// connection.
	defer hs.cancel()
	conn := Server(raw, l.config)
	if err := conn.HandshakeContext(hs.ctx); err != nil {
		_ = raw.Close()
		if l.onError != nil {
			l.onError(raw.RemoteAddr(), fmt.Errorf("tlsutil: TLS handshake: %w", err))
		}
		return
	}
	l.mu.Lock()
	if hs.el == nil { // evicted just as it finished
		l.mu.Unlock()
		_ = conn.Close()
		return
	}
	hs.done = true
	l.mu.Unlock()
	select {
	case l.ready <- conn:
	case <-l.ctx.Done():
		_ = conn.Close()
	}
}
