package intake

// Message is one MQTT PUBLISH handed to the intake: by the paho
// subscription (paho's mqtt.Message satisfies it), or through Submit by the
// embedded broker. Ack is called once, after the spool Append that holds
// the message has returned, in the order the messages were submitted.
type Message interface {
	Topic() string
	Payload() []byte
	Qos() byte
	Duplicate() bool // redelivery (DUP flag): a duplicate of a stored reading is dropped
	MessageID() uint16
	Ack()
}

// RejectAcker is implemented by a Message that can tell its publisher its
// payload was rejected (an MQTT 5 reason code). The intake calls
// AckRejected instead of Ack for a message written to the dead-letter
// stream; reason is one of the Reason constants.
type RejectAcker interface {
	AckRejected(reason string)
}
