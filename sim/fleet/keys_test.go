package fleet

import (
	"testing"

	"github.com/edgespool/edgespool/sim/jsonkeys"
)

// Every key of the summary file (edgespool-sim run -summary) is snake_case.
func TestSummaryKeysAreSnakeCase(t *testing.T) { jsonkeys.RequireSnake(t, Summary{}) }
