package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgespool/edgespool/sim/linkcut"
)

// cutState is shared between the timeline and the status line.
type cutState struct{ cut atomic.Bool }

// timeline cuts every link at cutAt and restores them cutFor later (also
// when ctx ends first), printing both events.
func timeline(ctx context.Context, w io.Writer, links map[string]*linkcut.Proxy, cutAt, cutFor time.Duration, st *cutState) {
	names := make([]string, 0, len(links))
	for n := range links {
		names = append(names, n)
	}
	sort.Strings(names)
	if !sleep(ctx, cutAt) {
		return
	}
	for _, n := range names {
		links[n].Cut(linkcut.Reset)
	}
	st.cut.Store(true)
	fmt.Fprintf(w, "==> uplink CUT (%s) for %v: the agent keeps ingesting, spooling and downsampling\n", strings.Join(names, ", "), cutFor)
	sleep(ctx, cutFor)
	for _, n := range names {
		links[n].Restore()
	}
	st.cut.Store(false)
	fmt.Fprintln(w, "==> uplink RESTORED: the backlog drains, downsampled points first")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
