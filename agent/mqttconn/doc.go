// Package mqttconn opens the network connections of the project's MQTT
// clients (paho) so that small packets cost fewer system calls.
//
// paho reads every packet with three or more reads of the raw connection
// (the fixed header byte, each remaining-length byte, the rest) and writes
// every packet, each PUBACK included, with a write of its own. At tens of
// thousands of QoS 1 messages a second those calls are a large share of
// a gateway's CPU. Open wraps the connection in a Conn that
//
//   - reads through a buffer, so one read usually fetches many packets;
//   - queues writes and hands them to a flusher goroutine, so that packets
//     written while the previous write is still in the kernel go out
//     together in one call. By default a lone packet is written at once;
//     Options.Linger makes the flusher wait that long for more, so that a
//     burst (a fleet's publications of one tick) goes out in one call.
//
// Conn.Wrote tells whether anything was written yet: paho writes its
// CONNECT first, so a client may add packets of its own after that (the
// agent's intake writes the PUBACKs of a spool commit in one Write).
//
// Order is kept: bytes reach the connection in the order Write was called.
// A write error is sticky: the connection is closed, and every later Write
// returns the error, so paho sees a lost connection and reconnects as it
// would without the wrapper. Close sends what is queued (bounded by
// FlushTimeout) before it closes, so a DISCONNECT still reaches the broker.
// paho's write deadlines still reach the connection, but as writes are
// asynchronous they bound the flusher's write only when they overlap it; a
// broker that stops reading altogether is found by paho's keepalive (no
// PINGRESP in time), which closes the connection and so ends a stuck write.
//
// Use it with ClientOptions.SetCustomOpenConnectionFn(mqttconn.Open), or
// mqttconn.Opener(options). It
// dials the schemes paho does: tcp and mqtt (through a proxy from the
// environment when one is set), ssl, tls, mqtts, mqtt+ssl and tcps with
// the client's TLS config, unix sockets, and ws/wss (left to paho's own
// websocket connection, which buffers by itself).
package mqttconn
