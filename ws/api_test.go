package ws_test

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite api.txt from the package's exported API")

// TestAPI compares the exported API of package ws with the golden file api.txt, so that
// every addition or change to it shows in review as a change to that file. After a
// deliberate change, rewrite the file with
//
//	go test ./ws -run TestAPI -update
func TestAPI(t *testing.T) {
	got := strings.Join(exportedAPI(t), "\n") + "\n"
	if *update {
		if err := os.WriteFile("api.txt", []byte(got), 0o666); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("api.txt")
	if err != nil {
		t.Fatalf("%v (create it with go test ./ws -run TestAPI -update)", err)
	}
	if got == string(want) {
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	var diff strings.Builder
	for _, l := range wantLines {
		if l != "" && !slices.Contains(gotLines, l) {
			fmt.Fprintf(&diff, "\n- %s", l)
		}
	}
	for _, l := range gotLines {
		if l != "" && !slices.Contains(wantLines, l) {
			fmt.Fprintf(&diff, "\n+ %s", l)
		}
	}
	t.Errorf("the exported API differs from api.txt (- in the file only, + in the code only):%s\n\nIf the change is meant, run go test ./ws -run TestAPI -update and commit api.txt.", diff.String())
}

// exportedAPI type-checks the package's non-test files for this platform and returns one
// line for each exported constant, variable, function, type, struct field and method
// (those promoted from embedded types included), sorted.
func exportedAPI(t *testing.T) []string {
	t.Helper()
	bp, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: exportDataImporter(t, fset, bp.Imports)}
	pkg, err := conf.Check("github.com/duplex-ws/duplex/ws", fset, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Names from this package go unqualified, others by package name: http.Header.
	qual := func(p *types.Package) string {
		if p == pkg {
			return ""
		}
		return p.Name()
	}
	str := func(typ types.Type) string { return types.TypeString(typ, qual) }
	// signature prints a function's parameters and results, without "func".
	signature := func(sig *types.Signature) string { return strings.TrimPrefix(str(sig), "func") }

	var api []string
	for _, name := range pkg.Scope().Names() {
		obj := pkg.Scope().Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Const:
			api = append(api, fmt.Sprintf("const %s %s = %s", name, str(obj.Type()), obj.Val().ExactString()))
		case *types.Var:
			api = append(api, fmt.Sprintf("var %s %s", name, str(obj.Type())))
		case *types.Func:
			api = append(api, fmt.Sprintf("func %s%s", name, signature(obj.Signature())))
		case *types.TypeName:
			api = append(api, typeAPI(obj, str, signature)...)
		}
	}
	slices.Sort(api)
	return api
}

// exportDataImporter returns an importer of the packages imports, from the compiler's
// export data, found with one go list command (which builds them into the build cache if
// need be): much faster than type-checking them from source.
func exportDataImporter(t *testing.T, fset *token.FileSet, imports []string) types.Importer {
	t.Helper()
	args := append([]string{"list", "-export", "-f", "{{.ImportPath}}={{.Export}}"}, imports...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for line := range strings.Lines(string(out)) {
		path, file, _ := strings.Cut(strings.TrimSpace(line), "=")
		exports[path] = file
	}
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	})
}

// typeAPI returns the lines for an exported type: its definition, its exported fields or
// interface methods, and its method set.
func typeAPI(obj *types.TypeName, str func(types.Type) string, signature func(*types.Signature) string) []string {
	name := obj.Name()
	if obj.IsAlias() {
		return []string{fmt.Sprintf("type %s = %s", name, str(types.Unalias(obj.Type())))}
	}
	named := obj.Type().(*types.Named)
	if tp := named.TypeParams(); tp.Len() > 0 {
		var params []string
		for i := range tp.Len() {
			params = append(params, tp.At(i).Obj().Name()+" "+str(tp.At(i).Constraint()))
		}
		name += "[" + strings.Join(params, ", ") + "]"
	}
	var api []string
	switch u := named.Underlying().(type) {
	case *types.Struct:
		api = append(api, fmt.Sprintf("type %s struct", name))
		for f := range u.Fields() {
			switch {
			case !f.Exported():
			case f.Embedded():
				api = append(api, fmt.Sprintf("type %s struct, embedded %s", name, str(f.Type())))
			default:
				api = append(api, fmt.Sprintf("type %s struct, %s %s", name, f.Name(), str(f.Type())))
			}
		}
	case *types.Interface:
		api = append(api, fmt.Sprintf("type %s interface", name))
		for m := range u.Methods() {
			if m.Exported() {
				api = append(api, fmt.Sprintf("type %s interface, %s%s", name, m.Name(), signature(m.Signature())))
			}
		}
		return api
	default:
		api = append(api, fmt.Sprintf("type %s %s", name, str(u)))
	}
	// A method callable on a value is listed with receiver T, one that needs a pointer
	// with *T.
	values := types.NewMethodSet(named)
	pointers := types.NewMethodSet(types.NewPointer(named))
	for sel := range pointers.Methods() {
		m := sel.Obj().(*types.Func)
		if !m.Exported() {
			continue
		}
		recv := "*" + name
		if values.Lookup(m.Pkg(), m.Name()) != nil {
			recv = name
		}
		api = append(api, fmt.Sprintf("method (%s) %s%s", recv, m.Name(), signature(m.Signature())))
	}
	return api
}
