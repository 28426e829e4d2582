package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flagSet is a command's flags, each of which may also be set by an environment variable,
// DUPLEX_ and the flag's name in upper case with '_' for '-'. A flag on the command line
// wins over its variable.
type flagSet struct {
	fs    *flag.FlagSet
	order []string // flag names, in the order of the help
}

func newFlagSet(command string) *flagSet {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, the help by the command
	fs.Usage = func() {}
	return &flagSet{fs: fs}
}

// The flags' definitions, as flag.FlagSet's, recording their order for the help.

func (f *flagSet) stringVar(p *string, name, value, usage string) {
	f.fs.StringVar(p, name, value, usage)
	f.order = append(f.order, name)
}

func (f *flagSet) intVar(p *int, name string, value int, usage string) {
	f.fs.IntVar(p, name, value, usage)
	f.order = append(f.order, name)
}

func (f *flagSet) float64Var(p *float64, name string, value float64, usage string) {
	f.fs.Float64Var(p, name, value, usage)
	f.order = append(f.order, name)
}

func (f *flagSet) durationVar(p *time.Duration, name string, value time.Duration, usage string) {
	f.fs.DurationVar(p, name, value, usage)
	f.order = append(f.order, name)
}

func (f *flagSet) boolVar(p *bool, name string, value bool, usage string) {
	f.fs.BoolVar(p, name, value, usage)
	f.order = append(f.order, name)
}

func (f *flagSet) value(v flag.Value, name, usage string) {
	f.fs.Var(v, name, usage)
	f.order = append(f.order, name)
}

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return "DUPLEX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse sets the flags from the environment, then from args. It returns flag.ErrHelp for
// -h or --help, and a usageError for anything wrong.
func (f *flagSet) parse(args []string, lookupEnv func(string) (string, bool)) error {
	for _, name := range f.order {
		v, ok := lookupEnv(envName(name))
		if !ok || v == "" {
			continue
		}
		if err := f.fs.Set(name, v); err != nil {
			return usageErrorf("invalid value %q for %s (--%s): %v", v, envName(name), name, err)
		}
		if l, ok := f.fs.Lookup(name).Value.(*listValue); ok {
			l.fromEnv = true
		}
	}
	err := f.fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return &usageError{err}
	case f.fs.NArg() > 0:
		return usageErrorf("unexpected argument %q: %s takes flags only", f.fs.Arg(0), f.fs.Name())
	}
	return nil
}

// writeHelp writes the flags, each with its argument, default and variable.
func (f *flagSet) writeHelp(w io.Writer) {
	var b strings.Builder
	for _, name := range f.order {
		fl := f.fs.Lookup(name)
		arg, usage := flag.UnquoteUsage(fl)
		fmt.Fprintf(&b, "  --%s", name)
		if arg != "" {
			fmt.Fprintf(&b, " %s", arg)
		}
		fmt.Fprintf(&b, "  [$%s]\n", envName(name))
		if def := fl.DefValue; def != "" && def != "false" {
			usage += " (default " + def + ")"
		}
		wrap(&b, usage, "        ", 80)
	}
	io.WriteString(w, b.String())
}

// listValue is a flag that may be repeated, or given a comma-separated list. Values from
// the environment are replaced by those on the command line, not added to.
type listValue struct {
	values  *[]string
	fromEnv bool
}

func (l *listValue) String() string {
	if l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l *listValue) Set(s string) error {
	if l.fromEnv {
		*l.values = nil
		l.fromEnv = false
	}
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.values = append(*l.values, v)
		}
	}
	return nil
}

// sizeValue is a flag for a size in bytes: a number, with KiB, MiB or GiB after it or not.
type sizeValue struct{ n *int64 }

// sizeUnit is a unit of sizeValue, 1<<shift bytes.
type sizeUnit struct {
	suffix string
	shift  uint
}

// sizeUnits returns the units of sizeValue, largest first.
func sizeUnits() [4]sizeUnit {
	return [...]sizeUnit{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
}

func (v sizeValue) String() string {
	if v.n == nil {
		return ""
	}
	return formatSize(*v.n)
}

func (v sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.n = n
	return nil
}

func parseSize(s string) (int64, error) {
	num, shift := s, uint(0)
	for _, u := range sizeUnits() {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = strings.TrimSpace(rest), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("not a size: want bytes, or a number and KiB, MiB or GiB")
	}
	return n << shift, nil
}

func formatSize(n int64) string {
	for _, u := range sizeUnits() {
		if u.shift > 0 && n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// wrap writes text to b in lines of at most width bytes, each starting with indent,
// breaking at spaces.
func wrap(b *strings.Builder, text, indent string, width int) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
}
