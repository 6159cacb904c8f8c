package verify

import (
	"reflect"
	"testing"

	"github.com/edgespool/edgespool/sim/jsonkeys"
)

// Every key of the JSON report (edgespool-sim verify -json) is snake_case.
func TestReportKeysAreSnakeCase(t *testing.T) { jsonkeys.RequireSnake(t, Report{}) }

// checkExampleKinds asserts that each kind of example a report gives is
// the JSON key of the count it illustrates.
func checkExampleKinds(t *testing.T, report any, examples map[string][]string) {
	t.Helper()
	keys := map[string]bool{}
	for _, p := range jsonkeys.Type(reflect.TypeOf(report)) {
		keys[p] = true
	}
	for kind := range examples {
		if !keys[kind] || !jsonkeys.Snake(kind) {
			t.Errorf("examples of %q: not a snake_case key of %T", kind, report)
		}
	}
}
