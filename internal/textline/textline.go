// Package textline reads protocol lines with a bound on their length, for
// the line readers of sasl, tlsutil, apop and the examples:
// textproto.Reader.ReadLine has none, so a peer could make it buffer
// without limit.
package textline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ReadLine reads one line of at most max bytes, its line ending included,
// from r and returns it without the ending (CRLF, or a bare LF as textproto
// accepts). It never holds more than max bytes of the line: a longer line is
// an error wrapping tooLong, and the rest of that line stays unread, so the
// caller must end the connection. An EOF inside a line is
// io.ErrUnexpectedEOF; an EOF before it is io.EOF.
func ReadLine(r *bufio.Reader, max int, tooLong error) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > max {
			return "", fmt.Errorf("%w: line longer than %d bytes", tooLong, max)
		}
		if err == nil {
			if buf == nil {
				buf = frag // the common case: no copy before string()
			} else {
				buf = append(buf, frag...)
			}
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(buf)+len(frag) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		buf = append(buf, frag...)
	}
	line := buf[:len(buf)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}
