// Package fleet simulates a fleet of emergency fuel generators that publish
// their readings over MQTT, as the reference simulator does,
// plus what end-to-end verification needs: every reading carries its event
// time and a per-device sequence number.
//
// The model (Generator) is pure and deterministic for a given seed: each
// generator draws from its own seeded PCG source, so its location, load,
// temperature, power and fuel sequence do not depend on goroutine
// scheduling. Pacing (Pacer) runs on an injected clock.Clock. The MQTT side
// (MQTTPublisher) publishes at QoS 1 with a bounded window of unacknowledged
// messages, reconnects forever and never renumbers a reading, so sequence
// numbers stay monotone per device across reconnects. It drives its own
// reconnects: after one, the unacknowledged messages go out again, in
// order, before any new message, so the publisher never reorders its own
// messages (a subscriber may see duplicates, not reorders).
package fleet
