// Package broker is the agent's embedded MQTT broker (broker mode): the
// site's devices publish to the agent itself, over MQTT 3.1.1 or 5 on TCP,
// TLS and WebSocket listeners (mochi-mqtt v2), and each QoS 1 PUBLISH is
// acknowledged only once its reading is committed to the spool with fsync.
// A power cut of the gateway then loses no reading a device saw
// acknowledged, which a separate broker that acknowledges at once and saves
// periodically cannot promise.
//
//	device conn read goroutine          intake commit goroutine       conn writer goroutine
//	  rate cap, in-flight window  ─────►  group commit (many           PUBACKs of the commit,
//	  hook OnPublish: Submit              connections, one fsync)  ──►  in arrival order, one
//	  (the server sends no PUBACK)        Ack each message              write; frees the window;
//	                                                                    forwards to subscribers
//
// The hook returns ErrRejectPacket from OnPublish, so the server neither
// acknowledges nor delivers the message; the intake (intake.NewLocal) does
// the decoding, duplicate detection and group commit of subscribe mode, and
// calls Ack (or AckRejected for a payload sent to the dead-letter stream:
// MQTT 5 reason code 0x99) after the commit. The connection's writer then
// writes the PUBACKs of that commit in one write, frees their slots of the
// in-flight window and republishes the readings through the server's
// inline client to local subscribers (Options.Forward). A pipelined device
// thus has up to ReceiveMaximum messages in flight across commits.
//
// Lifecycle: New binds the listeners and restores the retained messages;
// Start accepts devices (the agent calls it once the intake runs);
// StopAccepting closes the listeners and refuses further PUBLISHes, while
// the connections stay open for the PUBACKs of what the intake still
// commits; Close writes those, disconnects the devices and saves the
// retained messages. Publish and Watch are the broker's inline client
// (the agent's alarms and their read-back), usable from New to Close.
//
// QoS 0 readings are stored the same way and never acknowledged; QoS 2 is
// not offered (the server's maximum QoS is 1; a QoS 2 PUBLISH of an MQTT
// 3.1.1 client is taken as QoS 1).
//
// Security: clients authenticate against a users file of bcrypt hashes
// (reloaded on change and on SIGHUP), anonymous clients only with
// AllowAnonymous; each client may publish and subscribe only within its
// topic rules. Limits on connections, packet size, in-flight window and
// per-connection rate are counted in edgespool_broker_limited_total and
// logged at most every 10 seconds per limit.
//
// Retained messages (the agent's alarms) are kept in a small JSON file,
// rewritten at most every second after a change, and restored at start.
package broker
