package drill

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed examples/*.yaml
var examples embed.FS

// Examples returns the names of the shipped drills (quick, soak).
func Examples() []string {
	entries, _ := examples.ReadDir("examples")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Example returns a shipped drill file by name.
func Example(name string) ([]byte, error) {
	b, err := examples.ReadFile("examples/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no shipped drill %q (have %s)", name, strings.Join(Examples(), ", "))
	}
	return b, nil
}
