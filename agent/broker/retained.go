package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainedHook keeps the retained messages (the agent's alarms, and any a
// device retains) in a small JSON file, rewritten whole (temporary file,
// fsync, rename) at most every flush interval after a change, never on
// the path of a reading. New restores it into the server.
type retainedHook struct {
	mqtt.HookBase
	path  string
	flush time.Duration
	log   *slog.Logger
	m     *metrics

	mu    sync.Mutex
	msgs  map[string]retainedMsg
	dirty bool
	timer *time.Timer
	saves sync.WaitGroup // a save the timer started; Stop waits for it
}

// retainedMsg is one retained message in the file.
type retainedMsg struct {
	Topic   string `json:"topic"`
	Payload []byte `json:"payload"`
	QoS     byte   `json:"qos"`
	Created int64  `json:"created"`
	Expiry  int64  `json:"expiry,omitempty"`
}

func newRetainedHook(path string, flush time.Duration, log *slog.Logger, m *metrics) (*retainedHook, error) {
	h := &retainedHook{path: path, flush: flush, log: log, m: m, msgs: map[string]retainedMsg{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return h, nil
	case err != nil:
		return nil, fmt.Errorf("read retained messages: %w", err)
	}
	var list []retainedMsg
	if err := json.Unmarshal(data, &list); err != nil {
		// A damaged file loses the retained state, not the agent: the
		// alarms are published again on their next change.
		log.Error("retained messages file unreadable; starting without retained messages", "path", path, "err", err)
		return h, nil
	}
	for _, r := range list {
		h.msgs[r.Topic] = r
	}
	m.retained.Set(float64(len(h.msgs)))
	return h, nil
}

func (h *retainedHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

func (h *retainedHook) ID() string { return "edgespool-retained" }

func (h *retainedHook) Provides(b byte) bool {
	return b == mqtt.OnRetainMessage || b == mqtt.OnRetainedExpired
}

// restore puts the file's messages into the server's retained index. It
// runs before anything is published (the server's own store loading runs
// at Serve, and would override alarms published before it).
func (h *retainedHook) restore(idx *mqtt.TopicsIndex) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.msgs {
		idx.RetainMessage(packets.Packet{TopicName: r.Topic, Payload: r.Payload, Created: r.Created, Expiry: r.Expiry,
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: r.QoS, Retain: true}})
	}
}

// OnRetainMessage records a retained message, or its removal (empty payload).
func (h *retainedHook) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, _ int64) {
	if strings.HasPrefix(pk.TopicName, "$") {
		return // the server's own ($SYS)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(pk.Payload) == 0 {
		delete(h.msgs, pk.TopicName)
	} else {
		h.msgs[pk.TopicName] = retainedMsg{Topic: pk.TopicName, Payload: append([]byte(nil), pk.Payload...),
			QoS: pk.FixedHeader.Qos, Created: pk.Created, Expiry: pk.Expiry}
	}
	h.changed()
}

// OnRetainedExpired drops an expired message.
func (h *retainedHook) OnRetainedExpired(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.msgs, topic)
	h.changed()
}

// changed schedules a write; h.mu is held.
func (h *retainedHook) changed() {
	h.m.retained.Set(float64(len(h.msgs)))
	h.dirty = true
	if h.timer == nil {
		h.saves.Add(1)
		h.timer = time.AfterFunc(h.flush, func() {
			defer h.saves.Done()
			_ = h.save()
		})
	}
}

// save writes the file if it changed since the last write.
func (h *retainedHook) save() error {
	h.mu.Lock()
	h.timer = nil
	if !h.dirty {
		h.mu.Unlock()
		return nil
	}
	list := make([]retainedMsg, 0, len(h.msgs))
	for _, r := range h.msgs {
		list = append(list, r)
	}
	h.dirty = false
	h.mu.Unlock()
	data, err := json.Marshal(list)
	if err == nil {
		err = writeFileSync(h.path, data, 0o600)
	}
	if err != nil {
		h.log.Error("write retained messages", "path", h.path, "err", err)
	}
	return err
}

// Stop writes what changed since the last write.
func (h *retainedHook) Stop() error {
	h.mu.Lock()
	if h.timer != nil && h.timer.Stop() {
		h.saves.Done() // its save never runs
	}
	h.timer = nil
	h.mu.Unlock()
	h.saves.Wait()
	return h.save()
}

// writeFileSync replaces path with data atomically and durably.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		err = d.Sync()
		d.Close()
		return err
	}
	return nil
}
