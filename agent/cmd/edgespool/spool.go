package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/edgespool/edgespool/agent/model"

	"github.com/edgespool/edgespool/agent"
	"github.com/edgespool/edgespool/spool"
)

const defaultSpool = "/var/lib/edgespool/spool.db"

func cmdSpool(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: edgespool spool stat|dump|compact -spool FILE\n")
		return errUsage
	}
	switch args[0] {
	case "stat":
		return spoolStat(args[1:], stdout, stderr)
	case "dump":
		return spoolDump(args[1:], stdout, stderr)
	case "compact":
		return spoolCompact(args[1:], stdout, stderr)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, "usage: edgespool spool stat|dump|compact -spool FILE\n")
		return nil
	}
	fmt.Fprintf(stderr, "edgespool spool: unknown subcommand %q (stat, dump, compact)\n", args[0])
	return errUsage
}

// openSpool opens an existing spool file for maintenance: no consumers
// configured (no cursor is removed, nothing deleted by acknowledgement) and
// caps far above its size (nothing dropped).
func openSpool(path string) (*spool.Spool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	limit := int64(1) << 40
	if math.MaxInt == math.MaxInt32 {
		limit = 3 << 29
	}
	s, err := spool.Open(path, spool.Options{MaxBytes: min(max(1<<30, 4*fi.Size()), limit)})
	if errors.Is(err, spool.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by a running agent (try: edgespool status): %w", path, err)
	}
	return s, err
}

func spoolStat(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool stat", "spool stat [-json] -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openSpool(*path)
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
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\n", c.Consumer, c.Stream, c.Cursor, c.LagRecords,
			(time.Duration(c.LagSeconds) * time.Second).String(), c.Dropped)
	}
	tw.Flush()
}

func spoolDump(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool dump", "spool dump [-stream raw] [-after SEQ] [-limit N] -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	stream := fs.String("stream", model.StreamRaw, "stream: raw, downsampled or deadletter")
	after := fs.Uint64("after", 0, "print records with a higher sequence number")
	limit := fs.Int("limit", 0, "print at most this many records (0: all)")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openSpool(*path)
	if err != nil {
		return err
	}
	defer s.Close()
	enc := json.NewEncoder(stdout)
	n := 0
	errStop := errors.New("limit reached")
	err = s.Scan(*stream, *after, func(r spool.Record) error {
		if *limit > 0 && n >= *limit {
			return errStop
		}
		n++
		return enc.Encode(dumpLine(r))
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return err
}

// dumpLine is one JSON line of `spool dump`: the record with its value
// decoded when the stream's encoding is known.
func dumpLine(r spool.Record) map[string]any {
	line := map[string]any{"stream": r.Stream, "seq": r.Seq, "key": r.Key,
		"time": time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano)}
	var v any
	var err error
	switch r.Stream {
	case model.StreamRaw:
		v, err = model.DecodeReading(r.Value)
	case model.StreamDownsampled:
		v, err = model.DecodePoint(r.Value)
	default:
		if json.Valid(r.Value) {
			v = json.RawMessage(r.Value)
		} else {
			v = r.Value
		}
	}
	if err != nil {
		line["error"], v = err.Error(), r.Value
	}
	line["value"] = v
	return line
}

func spoolCompact(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spool compact", "spool compact -spool FILE", stderr)
	path := fs.String("spool", defaultSpool, "spool file")
	if err := parse(fs, args); err != nil {
		return err
	}
	s, err := openSpool(*path)
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
