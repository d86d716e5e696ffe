package sasl

import (
	"fmt"
	"slices"
	"sync"

	"github.com/xdg-go/stringprep"
)

// SASLprep prepares a password (or another "stored string") with the
// SASLprep profile of stringprep (RFC 4013, RFC 3454): non-ASCII spaces
// become U+0020, characters "commonly mapped to nothing" (soft hyphen, zero
// width joiners, variation selectors) are removed, the result is normalised
// to NFKC, and control, private-use, non-character, unassigned (Unicode 3.2)
// and mixed-direction strings are refused with an error wrapping
// ErrMalformed. Strings of printable ASCII are returned unchanged without
// any table lookup.
//
// SCRAM (RFC 5802, Section 2.2) hashes the SASLprep form of the password, so
// SCRAM clients, NewSCRAMCredentials and the PLAIN-against-SCRAM check all
// apply it; a password that differs only in its Unicode form then yields the
// same keys as on gsasl, Cyrus-compatible stores and xdg-go/scram, with one
// known exception: U+200B ZERO WIDTH SPACE is in both of RFC 4013's mapping
// tables (RFC 3454 B.1, mapped to nothing, and C.1.2, mapped to SPACE).
// This package (xdg-go/stringprep) maps it to nothing, GNU SASL (libidn)
// to U+0020, so a password containing U+200B gives different keys there
// (TestSASLprepZeroWidthSpace pins our choice).
//
// Why SASLprep and not PRECIS: RFC 8265 obsoletes SASLprep with the PRECIS
// OpaqueString profile (golang.org/x/text/secure/precis), but OpaqueString
// normalises to NFC, not NFKC, keeps compatibility characters and maps only
// Zs spaces. On full-width letters ("ｐａｓｓ"), ligatures ("ﬁ"), Roman
// numerals ("Ⅸ") or a soft hyphen the two give different strings, so keys
// minted with PRECIS would not verify a password typed into a SASLprep
// client (and vice versa). SCRAM peers implement SASLprep, so this package
// does too. The implementation is xdg-go/stringprep's (also used by
// xdg-go/scram); its NFKC step uses golang.org/x/text tables of a newer
// Unicode version than 3.2, which differ only for characters that Unicode
// 3.2 did not assign and that are refused anyway.
func SASLprep(s string) (string, error) {
	if saslprepASCII(s) {
		return s, nil
	}
	out, err := stringprep.SASLprep.Prepare(s)
	if err != nil {
		return "", fmt.Errorf("%w: SASLprep refuses the string", ErrMalformed)
	}
	return out, nil
}

// saslprepQuery prepares a user name as a stringprep "query" string, as RFC
// 5802, Section 5.1 asks of the n= and a= names: like SASLprep, but code
// points unassigned in Unicode 3.2 are allowed.
func saslprepQuery(s string) (string, error) {
	if saslprepASCII(s) {
		return s, nil
	}
	out, err := saslprepQueryProfile().Prepare(s)
	if err != nil {
		return "", fmt.Errorf("%w: SASLprep refuses the name", ErrMalformed)
	}
	return out, nil
}

// saslprepQueryProfile is SASLprep without the prohibition of table A.1
// (unassigned code points), built once: it is read-only.
var saslprepQueryProfile = sync.OnceValue(func() stringprep.Profile {
	p := stringprep.SASLprep
	p.Prohibits = slices.Clone(p.Prohibits)
	p.Prohibits = slices.DeleteFunc(p.Prohibits, func(s stringprep.Set) bool {
		return len(s) > 0 && len(stringprep.TableA1) > 0 && &s[0] == &stringprep.TableA1[0]
	})
	return p
})

// saslprepASCII reports whether s is printable ASCII (U+0020 to U+007E), for
// which SASLprep is the identity: no mapping, normalisation or prohibition
// touches these code points.
func saslprepASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
