package downsample

// WithDefaults returns o with every zero field set to its default, as
// NewWindower and NewEngine apply them, or an error for invalid options.
// The agent's configuration takes its defaults from here.
func (o Options) WithDefaults() (Options, error) { return o.withDefaults() }
