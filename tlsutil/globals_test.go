package tlsutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoMutableGlobals: the package keeps no mutable state at package level
// and has no init (STYLE.md §7). The only package vars allowed are error
// values (errors.New, fmt.Errorf) and blank interface checks; tables are
// consts or functions returning a fresh value.
func TestNoMutableGlobals(t *testing.T) {
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				assert.False(t, d.Recv == nil && d.Name.Name == "init", "%s: func init", fset.Position(d.Pos()))
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, spec := range d.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if n.Name == "_" {
							continue
						}
						ok := i < len(vs.Values) && tlsGlobIsErrorValue(vs.Values[i])
						assert.True(t, ok, "%s: package var %s is not an error value", fset.Position(n.Pos()), n.Name)
					}
				}
			}
		}
	}
}

// tlsGlobIsErrorValue reports whether x is errors.New(...) or fmt.Errorf(...).
func tlsGlobIsErrorValue(x ast.Expr) bool {
	call, ok := x.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && (pkg.Name == "errors" && sel.Sel.Name == "New" || pkg.Name == "fmt" && sel.Sel.Name == "Errorf")
}
