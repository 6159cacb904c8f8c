package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/edgespool/edgespool/agent/buildinfo"
)

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "version [-json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	info := buildinfo.Get()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(stdout, info.String())
	return err
}
