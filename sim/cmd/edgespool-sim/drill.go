package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgespool/edgespool/sim/drill"
)

// errDrillFailed makes drill exit 1 after printing its verdict.
var errDrillFailed = errors.New("drill failed: see the verdict")

type drillFlags struct {
	dir, level  string
	render      string
	scale       float64
	jsonOut     bool
	planOnly    bool
	showExample bool
}

func drillCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f drillFlags
	fs := newFlags("drill", "drill [flags] FILE|"+strings.Join(drill.Examples(), "|"), stderr)
	fs.StringVar(&f.dir, "dir", "", "directory for the published log, record.json and report.html (default: a new edgespool-drill-* here)")
	fs.Float64Var(&f.scale, "scale", 1, "multiply every time of the drill (duration, fault times) by this, e.g. 0.25")
	fs.BoolVar(&f.jsonOut, "json", false, "print the verdict as JSON on stdout (live lines go to stderr)")
	fs.BoolVar(&f.planOnly, "plan", false, "print the fault schedule and exit")
	fs.BoolVar(&f.showExample, "print", false, "print the drill file (e.g. a shipped one, to copy and adapt) and exit")
	fs.StringVar(&f.level, "log-level", "warn", "log level of the components: debug, info, warn, error")
	fs.StringVar(&f.render, "render", "", "instead of running: print the summary of a record.json and write its report.html beside it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.render != "" {
		return renderRecord(f.render, stdout)
	}
	if fs.NArg() < 1 {
		return fmt.Errorf("%w: give a drill file or one of %s", errUsage, strings.Join(drill.Examples(), ", "))
	}
	name := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:]); err != nil { // flags after the file
		return err
	}
	src, err := drillSource(name)
	if err != nil {
		return err
	}
	if f.showExample {
		_, err := stdout.Write(src)
		return err
	}
	d, err := drill.Parse(src)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	d.Scale(f.scale)
	if f.planOnly {
		return printPlan(stdout, d)
	}
	return runDrill(ctx, d, f, stdout, stderr)
}

// drillSource reads a drill file, or a shipped drill by name.
func drillSource(name string) ([]byte, error) {
	if b, err := os.ReadFile(name); err == nil {
		return b, nil
	} else if strings.ContainsAny(name, "/.") {
		return nil, fmt.Errorf("drill file: %w", err)
	}
	return drill.Example(name)
}

func printPlan(w io.Writer, d *drill.Drill) error {
	p := d.Plan()
	fmt.Fprintf(w, "drill %q: %v, schedule seed %d, %d faults\n", d.Name, d.Duration, p.Seed, len(p.Steps)-1)
	for _, s := range p.Steps {
		fmt.Fprintf(w, "step %2d  %8v  %s\n", s.Index, s.Start, s.Label)
	}
	for _, a := range p.Actions {
		fmt.Fprintf(w, "  %8v  step %2d  %s %s\n", a.At, a.Step, a.Op, a.Link)
	}
	return nil
}

func runDrill(ctx context.Context, d *drill.Drill, f drillFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(stderr, f.level)
	if err != nil {
		return err
	}
	out := stdout
	if f.jsonOut {
		out = stderr
	}
	rec, err := drill.Run(ctx, d, drill.Options{Dir: f.dir, Out: out, Logger: log, Scale: f.scale})
	if rec != nil && f.jsonOut {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		if jerr := e.Encode(struct {
			Meta    drill.Meta    `json:"meta"`
			Verdict drill.Verdict `json:"verdict"`
		}{rec.Meta, rec.Verdict}); jerr != nil {
			err = errors.Join(err, jerr)
		}
	}
	if err != nil {
		return err
	}
	if !rec.Verdict.OK {
		return errDrillFailed
	}
	return nil
}

// renderRecord prints a record's summary and writes its report beside it.
func renderRecord(path string, stdout io.Writer) error {
	rec, err := drill.ReadRecord(path)
	if err != nil {
		return err
	}
	out := filepath.Join(filepath.Dir(path), drill.ReportFile)
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = drill.WriteHTML(f, rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	rec.WriteText(stdout)
	fmt.Fprintf(stdout, "report: %s\n", out)
	if !rec.Verdict.OK {
		return errDrillFailed
	}
	return nil
}
