package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/edgespool/edgespool/agent"
)

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "status [-addr HOST:PORT] [-json]", stderr)
	addr := fs.String("addr", "127.0.0.1:9273", "the agent's http.listen address")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + *addr + "/status")
	if err != nil {
		return fmt.Errorf("is the agent running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /status: %s %v", resp.Status, err)
	}
	if *asJSON {
		_, err = stdout.Write(body)
		return err
	}
	var st agent.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("decode /status: %w", err)
	}
	printStatus(stdout, st)
	return nil
}

func printStatus(w io.Writer, st agent.Status) {
	ready := "READY"
	if !st.Ready {
		ready = "NOT READY"
	}
	fmt.Fprintf(w, "edgespool %s: %s, up %s\n", st.Version, ready, time.Since(st.StartedAt).Round(time.Second))
	m := st.MQTT
	link := "connected"
	switch {
	case !m.Connected:
		link = "DISCONNECTED"
	case !m.Subscribed:
		link = "connected, NOT SUBSCRIBED"
	}
	fmt.Fprintf(w, "mqtt  %s (%s) %s since %s, %d unacknowledged\n", m.Broker, m.ClientID, link, ago(m.Since), m.Inflight)
	if m.LastError != "" {
		fmt.Fprintf(w, "      last error %s: %s\n", ago(m.LastErrorAt), m.LastError)
	}
	fmt.Fprintln(w)
	printSpool(w, st.Spool)
	if len(st.Sinks) == 0 {
		fmt.Fprintln(w, "\nno uplinks enabled")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tSTREAM\tLINK\tBACKLOG\tLAG\tSENT\tDEAD\tDROPPED\tLAST ERROR")
	for _, s := range st.Sinks {
		lastErr := "-"
		if s.LastError != "" {
			lastErr = ago(s.LastErrorAt) + ": " + s.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%s\n", s.Sink, s.Stream, s.Link.State, s.LagRecords,
			(time.Duration(s.LagSeconds) * time.Second).String(), s.Sent, s.DeadLetters, s.Dropped, lastErr)
	}
	tw.Flush()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
