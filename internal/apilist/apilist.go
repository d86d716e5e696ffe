package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/constant"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Package is one package's listing.
type Package struct {
	// ImportPath is the package's import path.
	ImportPath string
	// Rel is the import path relative to the module ("sasl/passdb"; "." for
	// the module root).
	Rel string
	// Lines are the declarations, sorted.
	Lines []string
	// Names is the number of exported package-level identifiers.
	Names int
}

// File returns the listing's file name under api/: the relative import path
// with "/" replaced by "_", and ".txt".
func (p *Package) File() string {
	return strings.ReplaceAll(p.Rel, "/", "_") + ".txt"
}

// Text returns the listing's file content.
func (p *Package) Text() []byte {
	var b bytes.Buffer
	for _, l := range p.Lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// listed is the part of `go list -json` output used here.
type listed struct {
	ImportPath string
	Dir        string
	Name       string
	Export     string
	Module     *struct{ Path string }
	Standard   bool
}

// Load returns the listing of every package of the module rooted at dir
// that another module can import: not main, not under internal/. It runs
// "go list -export", so the packages must build.
func Load(dir string) ([]*Package, error) {
	cmd := exec.Command("go", "list", "-export", "-deps", "-json", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("apilist: go list: %v: %s", err, stderr.Bytes())
	}
	exports := map[string]string{}
	var own []listed
	modPath := ""
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("apilist: go list output: %v", err)
		}
		exports[p.ImportPath] = p.Export
		if p.Module != nil && !p.Standard {
			if abs, _ := filepath.Abs(dir); strings.HasPrefix(p.Dir, abs) {
				own = append(own, p)
				modPath = p.Module.Path
			}
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(f)
	})
	var pkgs []*Package
	for _, p := range own {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, modPath), "/")
		if rel == "" {
			rel = "."
		}
		if p.Name == "main" || slices.Contains(strings.Split(rel, "/"), "internal") {
			continue
		}
		tp, err := imp.Import(p.ImportPath)
		if err != nil {
			return nil, fmt.Errorf("apilist: %s: %v", p.ImportPath, err)
		}
		pkg := &Package{ImportPath: p.ImportPath, Rel: rel}
		pkg.Lines, pkg.Names = listPackage(tp, rel)
		pkgs = append(pkgs, pkg)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Rel < pkgs[j].Rel })
	return pkgs, nil
}

// listPackage returns the declaration lines of pkg's exported API and the
// number of exported package-level names.
func listPackage(pkg *types.Package, rel string) ([]string, int) {
	prefix := "pkg " + rel + ", "
	qual := func(p *types.Package) string {
		switch {
		case p == pkg:
			return ""
		case p.Name() == pkg.Name():
			// emersion/go-sasl is "sasl" too: say which.
			return p.Path()
		}
		return p.Name()
	}
	var lines []string
	add := func(s string) { lines = append(lines, prefix+s) }
	scope := pkg.Scope()
	names := 0
	for _, name := range scope.Names() {
		if !token.IsExported(name) {
			continue
		}
		names++
		switch o := scope.Lookup(name).(type) {
		case *types.Const:
			add("const " + name + " " + constType(o, qual))
			add("const " + name + " = " + constValue(o))
		case *types.Var:
			add("var " + name + " " + typeString(o.Type(), qual))
		case *types.Func:
			add(funcLine("func "+name, o.Type().(*types.Signature), qual))
		case *types.TypeName:
			listType(o, qual, add)
		}
	}
	sort.Strings(lines)
	return slices.Compact(lines), names
}

func constType(c *types.Const, qual types.Qualifier) string {
	if b, ok := c.Type().(*types.Basic); ok && b.Info()&types.IsUntyped != 0 {
		switch b.Kind() {
		case types.UntypedInt:
			return "ideal-int"
		case types.UntypedFloat:
			return "ideal-float"
		case types.UntypedString:
			return "ideal-string"
		case types.UntypedBool:
			return "ideal-bool"
		case types.UntypedRune:
			return "ideal-rune"
		}
	}
	return typeString(c.Type(), qual)
}

func constValue(c *types.Const) string {
	v := c.Val()
	if v.Kind() == constant.String {
		return v.ExactString()
	}
	return v.String()
}

// typeString is types.TypeString, with function types written without
// parameter names, which are not part of the API.
func typeString(t types.Type, qual types.Qualifier) string {
	if sig, ok := t.(*types.Signature); ok && sig.Recv() == nil {
		return funcLine("func", sig, qual)
	}
	return types.TypeString(t, qual)
}

// funcLine formats a function or method signature without parameter names.
func funcLine(head string, sig *types.Signature, qual types.Qualifier) string {
	var b strings.Builder
	b.WriteString(head)
	if tp := sig.TypeParams(); tp.Len() > 0 {
		b.WriteByte('[')
		for i := range tp.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			t := tp.At(i)
			b.WriteString(t.Obj().Name() + " " + typeString(t.Constraint(), qual))
		}
		b.WriteByte(']')
	}
	b.WriteByte('(')
	params := sig.Params()
	for i := range params.Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := params.At(i).Type()
		if sig.Variadic() && i == params.Len()-1 {
			b.WriteString("..." + typeString(t.(*types.Slice).Elem(), qual))
		} else {
			b.WriteString(typeString(t, qual))
		}
	}
	b.WriteByte(')')
	res := sig.Results()
	switch res.Len() {
	case 0:
	case 1:
		b.WriteString(" " + typeString(res.At(0).Type(), qual))
	default:
		b.WriteString(" (")
		for i := range res.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(typeString(res.At(i).Type(), qual))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// listType adds the lines of one exported type: its kind, exported fields,
// interface methods and the exported methods of its method set.
func listType(o *types.TypeName, qual types.Qualifier, add func(string)) {
	name := o.Name()
	if o.IsAlias() {
		add("type " + name + " = " + typeString(types.Unalias(o.Type()), qual))
		// An alias of another package's type brings its methods along.
		if named, ok := types.Unalias(o.Type()).(*types.Named); ok && named.Obj().Pkg() != o.Pkg() {
			if it, ok := named.Underlying().(*types.Interface); ok {
				for m := range it.Methods() {
					if m.Exported() {
						add(funcLine("type "+name+" interface, "+m.Name(), m.Type().(*types.Signature), qual))
					}
				}
			}
		}
		return
	}
	named := o.Type().(*types.Named)
	head := "type " + name
	if tp := named.TypeParams(); tp.Len() > 0 {
		var ps []string
		for i := range tp.Len() {
			ps = append(ps, tp.At(i).Obj().Name()+" "+typeString(tp.At(i).Constraint(), qual))
		}
		head += "[" + strings.Join(ps, ", ") + "]"
	}
	switch u := named.Underlying().(type) {
	case *types.Struct:
		add(head + " struct")
		for f := range u.Fields() {
			if !f.Exported() {
				continue
			}
			if f.Embedded() {
				add(head + " struct, embedded " + typeString(f.Type(), qual))
			} else {
				add(head + " struct, " + f.Name() + " " + typeString(f.Type(), qual))
			}
		}
	case *types.Interface:
		var ms []string
		unexported := false
		for i := range u.NumMethods() {
			m := u.Method(i)
			if !m.Exported() {
				unexported = true
				continue
			}
			ms = append(ms, m.Name())
			add(funcLine(head+" interface, "+m.Name(), m.Type().(*types.Signature), qual))
		}
		if unexported {
			ms = append(ms, "unexported methods")
		}
		sort.Strings(ms)
		add(head + " interface { " + strings.Join(ms, ", ") + " }")
		return
	default:
		add(head + " " + typeString(u, qual))
	}
	// Methods, value and pointer receivers, promoted ones included.
	for _, t := range []types.Type{named, types.NewPointer(named)} {
		ms := types.NewMethodSet(t)
		for sel := range ms.Methods() {
			m := sel.Obj().(*types.Func)
			if !m.Exported() {
				continue
			}
			if _, isPtr := t.(*types.Pointer); isPtr && types.NewMethodSet(named).Lookup(m.Pkg(), m.Name()) != nil {
				continue // listed with the value receiver
			}
			recv := name
			if _, isPtr := t.(*types.Pointer); isPtr {
				recv = "*" + name
			}
			add(funcLine("method ("+recv+") "+m.Name(), m.Type().(*types.Signature), qual))
		}
	}
}
