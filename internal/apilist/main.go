// Command apilist records the exported API of every importable package of
// this module as text, one declaration a line, in the style of the Go
// distribution's api/ directory: api/<package>.txt at the module root, with
// "/" in the package path written as "_" (api/sasl_passdb.txt).
//
// Its test, part of "go test ./...", fails when a package's exported API
// differs from its listing, so that every change to the API is deliberate
// and shows in review. After an intended change, regenerate the listings
// from the module root with
//
//	go run ./internal/apilist -w
//
// Without -w it prints the listings to standard output.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	write := flag.Bool("w", false, "write api/*.txt instead of printing")
	flag.Parse()
	if err := run(".", *write); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run lists the module rooted at dir and writes dir/api, replacing what
// is there, or prints the listings.
func run(dir string, write bool) error {
	pkgs, err := Load(dir)
	if err != nil {
		return err
	}
	if !write {
		for _, p := range pkgs {
			os.Stdout.Write(p.Text())
		}
		return nil
	}
	apiDir := filepath.Join(dir, "api")
	old, _ := filepath.Glob(filepath.Join(apiDir, "*.txt"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(apiDir, 0o755); err != nil {
		return err
	}
	for _, p := range pkgs {
		if err := os.WriteFile(filepath.Join(apiDir, p.File()), p.Text(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
