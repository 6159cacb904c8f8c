package spool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Cursor lifecycle. A cursor exists once its consumer acknowledged or
// committed on a stream. A cursor whose consumer is not listed in
// Options.Consumers (a sink renamed or removed from the configuration) is
// an orphan: it is kept, with its position and counters, so that putting
// the consumer back resumes where it stopped, but it holds nothing back:
// records acknowledged by the configured consumers are deleted and the caps
// drop records as if it did not exist. Every record that leaves a stream
// above an orphan's position is counted in the orphan's Dropped. Orphans
// are reported at Open (a warning each), in Stats (ConsumerStats.Orphan)
// and by the gauge edgespool_spool_orphan_cursors, until RemoveConsumer
// removes them.

// ErrNoConsumer: RemoveConsumer found no cursor of the consumer.
var ErrNoConsumer = errors.New("spool: no cursor of that consumer")

// orphan reports a cursor whose consumer is not configured for its stream.
// With Options.Consumers nil no consumer is known and none is an orphan.
func (o *Options) orphan(id cursorID) bool {
	return o.Consumers != nil && !slices.Contains(o.Consumers[id.Stream], id.Consumer)
}

// configured reports a consumer listed for any stream.
func (o *Options) configured(consumer string) bool {
	for _, list := range o.Consumers {
		if slices.Contains(list, consumer) {
			return true
		}
	}
	return false
}

// warnOrphans logs each orphan cursor once, at open.
func (s *Spool) warnOrphans(cursors map[cursorID]*cursorState) {
	ids := make([]cursorID, 0)
	for id := range cursors {
		if s.opts.orphan(id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i].key()) < string(ids[j].key()) })
	for _, id := range ids {
		s.log.Warn("cursor of a consumer not configured kept as an orphan; it holds back no data "+
			"(remove it with: edgespool spool remove-cursor)",
			"consumer", id.Consumer, "stream", id.Stream, "cursor", cursors[id].Seq)
	}
}

// orphanCount returns the number of orphan cursors.
func (s *Spool) orphanCount() int {
	s.stMu.Lock()
	defer s.stMu.Unlock()
	n := 0
	for id := range s.cursors {
		if s.opts.orphan(id) {
			n++
		}
	}
	return n
}

// RemoveConsumer deletes every cursor of consumer (all streams). A consumer
// listed in Options.Consumers cannot be removed (ErrInvalid); a consumer
// without a cursor is ErrNoConsumer. It returns the streams whose cursor
// was removed.
func (s *Spool) RemoveConsumer(consumer string) ([]string, error) {
	if err := checkName("consumer", consumer); err != nil {
		return nil, err
	}
	if s.opts.configured(consumer) {
		return nil, fmt.Errorf("consumer %q is configured: %w", consumer, ErrInvalid)
	}
	o := &op{kind: opRemove, consumer: consumer}
	if err := s.submit(context.Background(), o); err != nil {
		return nil, fmt.Errorf("spool remove consumer %s: %w", consumer, err)
	}
	return o.removed, nil
}

// removeConsumer deletes the cursors of one consumer in the transaction.
func (w *wtx) removeConsumer(o *op) error {
	var ids []cursorID
	for id := range w.s.cursors {
		if id.Consumer == o.consumer {
			ids = append(ids, id)
		}
	}
	for id, c := range w.cursors {
		if id.Consumer == o.consumer && c != nil && w.s.cursors[id] == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("%q: %w", o.consumer, ErrNoConsumer)
	}
	for _, id := range ids {
		if err := w.deleteCursor(id); err != nil {
			return fmt.Errorf("delete cursor %s/%s: %w", id.Consumer, id.Stream, err)
		}
		o.removed = append(o.removed, id.Stream)
	}
	sort.Strings(o.removed)
	return nil
}
