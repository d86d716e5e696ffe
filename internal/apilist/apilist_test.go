package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAPI fails when the exported API of a package differs from its
// listing under api/: every change to the surface must come with the
// regenerated listing, so that it is deliberate and shows in review.
// Regenerate with "go run ./internal/apilist -w" from the module root.
func TestAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list -export over the module")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(root, "api")); os.IsNotExist(err) {
		t.Skip("no api/ listings recorded yet")
	}
	pkgs, err := Load(root)
	require.NoError(t, err)
	require.NotEmpty(t, pkgs)

	const fix = "the exported API changed; if that is intended, run\n\tgo run ./internal/apilist -w\nfrom the module root and commit api/"
	want := map[string]bool{}
	for _, p := range pkgs {
		want[p.File()] = true
		old, err := os.ReadFile(filepath.Join(root, "api", p.File()))
		if os.IsNotExist(err) {
			t.Errorf("api/%s is missing: package %s has no listing; %s", p.File(), p.ImportPath, fix)
			continue
		}
		require.NoError(t, err)
		got := p.Lines
		had := strings.Split(strings.TrimSuffix(string(old), "\n"), "\n")
		if slices.Equal(got, had) {
			continue
		}
		var added, removed []string
		for _, l := range got {
			if !slices.Contains(had, l) {
				added = append(added, "+ "+l)
			}
		}
		for _, l := range had {
			if !slices.Contains(got, l) {
				removed = append(removed, "- "+l)
			}
		}
		t.Errorf("package %s differs from api/%s:\n%s\n%s",
			p.ImportPath, p.File(), strings.Join(append(removed, added...), "\n"), fix)
	}
	files, err := filepath.Glob(filepath.Join(root, "api", "*.txt"))
	require.NoError(t, err)
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("api/%s lists no package of the module; %s", filepath.Base(f), fix)
		}
	}
}

// TestListing checks the listing format on this module's own sasl package:
// every kind of declaration appears, sorted, without duplicates.
func TestListing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list -export over the module")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	pkgs, err := Load(root)
	require.NoError(t, err)
	var sasl *Package
	for _, p := range pkgs {
		require.NotContains(t, p.Rel, "internal", "internal packages are not API")
		if p.Rel == "sasl" {
			sasl = p
		}
	}
	require.NotNil(t, sasl)
	require.Equal(t, "sasl.txt", sasl.File())
	require.True(t, slices.IsSorted(sasl.Lines))
	require.Equal(t, len(slices.Compact(slices.Clone(sasl.Lines))), len(sasl.Lines))
	for _, want := range []string{
		"pkg sasl, const Plain = \"PLAIN\"",
		"pkg sasl, const Plain ideal-string",
		"pkg sasl, func ReadLine(*bufio.Reader, int) (string, error)",
		"pkg sasl, method (*Exchange) Serve(context.Context, *textproto.Conn, net.Conn, Server, []byte) error",
		"pkg sasl, type Exchange struct, Protocol Protocol",
		"pkg sasl, type Mechanism interface { Name, Security }",
		"pkg sasl, type Mechanism interface, Name() string",
		"pkg sasl, type Protocol uint8",
		"pkg sasl, type Client = github.com/emersion/go-sasl.Client",
		"pkg sasl, type ServerConfig struct, Anonymous func(context.Context, string) error",
		"pkg sasl, var ErrOutOfStep error",
	} {
		require.Contains(t, sasl.Lines, want)
	}
}
