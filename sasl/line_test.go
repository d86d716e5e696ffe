package sasl

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadLine(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		max      int
		want     []string
		err      error
	}{
		{"crlf", "a1 OK\r\nnext\r\n", 64, []string{"a1 OK", "next"}, io.EOF},
		{"bare lf", "one\ntwo\n", 64, []string{"one", "two"}, io.EOF},
		{"empty line", "\r\n", 64, []string{""}, io.EOF},
		{"exactly max", "abc\r\n", 5, []string{"abc"}, io.EOF},
		{"one over max", "abcd\r\n", 5, nil, ErrTooLarge},
		{"eof mid-line", "abc", 64, nil, io.ErrUnexpectedEOF},
		{"eof at start", "", 64, nil, io.EOF},
		// Longer than bufio's minimal buffer (16 bytes): the line is
		// assembled from several fragments.
		{"long fragments", strings.Repeat("x", 100) + "\r\n", 200, []string{strings.Repeat("x", 100)}, io.EOF},
		{"long over max", strings.Repeat("x", 300) + "\r\n", 200, nil, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			for _, want := range tt.want {
				got, err := ReadLine(r, tt.max)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			_, err := ReadLine(r, tt.max)
			assert.ErrorIs(t, err, tt.err)
			// Only a line left half read leaves the connection out of step.
			assert.Equal(t, tt.err == ErrTooLarge, errors.Is(err, ErrOutOfStep))
		})
	}
}

// FuzzReadLine: any input yields lines no longer than max without line
// endings, or an error; never more.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("A1 AUTHENTICATE PLAIN\r\n+ \r\n"), 8)
	f.Add([]byte("\n\r\n\r\r\n"), 2)
	f.Add([]byte(strings.Repeat("y", 40)), 30)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		for i := 0; i <= len(in); i++ {
			line, err := ReadLine(r, max)
			if err != nil {
				return
			}
			if len(line) > max || strings.ContainsAny(line, "\n") {
				t.Fatalf("line %q breaks the bound %d or holds LF", line, max)
			}
		}
	})
}
