package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/spool"
)

const defaultSpool = "/var/lib/edgespool/spool.db"

const spoolUsage = "usage: edgespool spool stat|dump|compact|repair|remove-cursor -spool FILE\n"

func cmdSpool(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, spoolUsage)
		return errUsage
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) error{
		"stat": spoolStat, "dump": spoolDump, "compact": spoolCompact,
		"repair": spoolRepair, "remove-cursor": spoolRemoveCursor,
	}
	switch cmd, ok := cmds[args[0]]; {
	case ok:
		return cmd(args[1:], stdout, stderr)
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		fmt.Fprint(stdout, spoolUsage)
		return nil
	}
	fmt.Fprintf(stderr, "edgespool spool: unknown subcommand %q (stat, dump, compact, repair, remove-cursor)\n", args[0])
	return errUsage
}

// maintOptions are the options of a maintenance open: no consumers
// configured (no cursor is an orphan, nothing is deleted by
// acknowledgement) and caps far above the file's size (nothing dropped).
func maintOptions(size int64) spool.Options {
	limit := int64(1) << 40
	if math.MaxInt == math.MaxInt32 {
		limit = 3 << 29
	}
	return spool.Options{MaxBytes: min(max(1<<30, 4*size), limit)}
}

// inUse explains ErrLocked.
func inUse(path string, err error) error {
	if errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("%s is in use by a running agent (try: edgespool status): %w", path, err)
	}
	return err
}

// existingSpool checks that path holds a file before a maintenance command
// that writes opens it (spool.Open would create a missing or empty file).
func existingSpool(path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file: %w", path, spool.ErrNotSpool)
	}
	return fi, nil
}

// openReadOnly opens a spool for stat and dump: nothing is written.
func openReadOnly(path string) (*spool.Spool, error) {
	s, err := spool.OpenReadOnly(path, spool.Options{})
	return s, inUse(path, err)
}

// openWritable opens an existing, sound spool for compact and
// remove-cursor: a damaged file is refused (repair salvages it).
func openWritable(path string) (*spool.Spool, error) {
	fi, err := existingSpool(path)
	if err != nil {
		return nil, err
	}
	o := maintOptions(fi.Size())
	o.NoSalvage = true
	s, err := spool.Open(path, o)
	return s, inUse(path, err)
}

func spoolStat(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool stat", "spool stat [-json] -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openReadOnly(*path)
	if err != nil {
		return err
	}
	st := agent.NewSpoolStatus(*path, s.Stats())
	if err := s.Close(); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printSpool(stdout, st)
	return nil
}

func printSpool(w io.Writer, st agent.SpoolStatus) {
	fmt.Fprintf(w, "spool %s: file %s, records %s of cap %s (%.0f%%), policy %s\n\n", st.Path,
		human(st.FileBytes), human(st.LogicalBytes), human(st.CapBytes), pct(st.LogicalBytes, st.CapBytes), st.Policy)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tRECORDS\tBYTES\tSEQ\tOLDEST\tNEWEST\tDROPPED\tCORRUPT")
	for _, s := range st.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d-%d\t%s\t%s\t%d\t%d\n", s.Name, s.Records, human(s.Bytes), s.FirstSeq,
			s.LastSeq, when(s.Oldest), when(s.Newest), s.Dropped, s.Corrupt)
	}
	tw.Flush()
	if len(st.Consumers) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tSTREAM\tCURSOR\tLAG RECORDS\tLAG\tDROPPED")
	for _, c := range st.Consumers {
		name := c.Consumer
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\n", name, c.Stream, c.Cursor, c.LagRecords,
			(time.Duration(c.LagSeconds) * time.Second).String(), c.Dropped)
	}
	tw.Flush()
}

func spoolCompact(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool compact", "spool compact -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openWritable(*path)
	if err != nil {
		return err
	}
	before := s.Stats().FileBytes
	start := time.Now()
	if err := s.Compact(); err != nil {
		s.Close()
		return fmt.Errorf("compact: %w", err)
	}
	after := s.Stats().FileBytes
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s -> %s in %v\n", *path, human(before), human(after), time.Since(start).Round(time.Millisecond))
	return nil
}

func spoolRepair(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool repair", "spool repair -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	if err := parse(fs, args); err != nil {
		return err
	}
	fi, err := existingSpool(*path)
	if err != nil {
		return err
	}
	rep, err := spool.Repair(*path, maintOptions(fi.Size()))
	if err != nil {
		return inUse(*path, err)
	}
	printRepair(stdout, *path, rep)
	return nil
}

func printRepair(w io.Writer, path string, rep spool.RepairReport) {
	switch {
	case rep.Salvaged:
		fmt.Fprintf(w, "%s: damaged; salvaged into a fresh file: %d records kept, %d lost; damaged original kept at %s\n",
			path, rep.Kept, rep.Lost, rep.MovedTo)
	case len(rep.Notes) == 0:
		fmt.Fprintf(w, "%s: sound, nothing to repair\n", path)
	default:
		fmt.Fprintf(w, "%s: repaired in place, %d records lost\n", path, rep.Lost)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

func spoolRemoveCursor(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool remove-cursor", "spool remove-cursor -name CONSUMER -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	name := fs.String("name", "", "consumer whose cursors to remove (all streams)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		fmt.Fprintln(stderr, "spool remove-cursor: -name is required")
		fs.Usage()
		return errUsage
	}
	s, err := openWritable(*path)
	if err != nil {
		return err
	}
	streams, err := s.RemoveConsumer(*name)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: removed the cursors of %s on %s\n", *path, *name, strings.Join(streams, ", "))
	return nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func pct(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
