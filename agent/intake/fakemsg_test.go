package intake

// message is an mqtt.Message with a QoS, an id and a payload.
type message struct {
	qos     byte
	id      uint16
	payload []byte
	acked   int
}

func (m *message) Duplicate() bool   { return false }
func (m *message) Qos() byte         { return m.qos }
func (m *message) Retained() bool    { return false }
func (m *message) Topic() string     { return "emergency_generator/g1" }
func (m *message) MessageID() uint16 { return m.id }
func (m *message) Payload() []byte   { return m.payload }
func (m *message) Ack()              { m.acked++ }
