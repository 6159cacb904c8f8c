package spool

// WithDefaults returns o with every zero field set to its default, as Open
// applies them. The agent's configuration takes its defaults from here.
func (o Options) WithDefaults() Options { return o.withDefaults() }
