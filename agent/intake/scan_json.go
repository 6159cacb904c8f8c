package intake

import "errors"

// errFallback makes the fast scanner hand a payload to encoding/json.
var errFallback = errors.New("fall back to encoding/json")

// maxScanDepth bounds the nesting the fast scanner follows inside ignored
// values; deeper payloads go to encoding/json.
const maxScanDepth = 32

// scanner is a minimal JSON tokenizer for one flat object. It validates the
// full JSON grammar but keeps only the raw tokens of top-level values.
type scanner struct {
	b []byte
	i int
}

var errSyntax = reject(ReasonParse, "bad JSON syntax")

// scanJSON fills f from a JSON object, or returns errFallback or a
// *DecodeError.
func scanJSON(b []byte, f *jsonFields) error {
	s := scanner{b: b}
	s.ws()
	if !s.eat('{') {
		return reject(ReasonParse, "JSON payload is not an object")
	}
	s.ws()
	if !s.eat('}') {
		if err := s.members(f); err != nil {
			return err
		}
	}
	s.ws()
	if s.i != len(s.b) {
		return reject(ReasonParse, "trailing data after JSON object")
	}
	return nil
}

func (s *scanner) members(f *jsonFields) error {
	for {
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if !s.eat(':') {
			return errSyntax
		}
		s.ws()
		tok, err := s.value(0)
		if err != nil {
			return err
		}
		f.set(key, tok)
		s.ws()
		if s.eat('}') {
			return nil
		}
		if !s.eat(',') {
			return errSyntax
		}
		s.ws()
	}
}

// key returns an object key; escaped keys go to encoding/json.
func (s *scanner) key() ([]byte, error) {
	tok, err := s.string()
	if err != nil {
		return nil, err
	}
	for _, c := range tok {
		if c == '\\' {
			return nil, errFallback
		}
	}
	return tok[1 : len(tok)-1], nil
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) value(depth int) ([]byte, error) {
	if s.i >= len(s.b) {
		return nil, errSyntax
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.string()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '{' || c == '[':
		if depth >= maxScanDepth {
			return nil, errFallback
		}
		return s.container(depth + 1)
	}
	return nil, errSyntax
}

func (s *scanner) literal(lit string) ([]byte, error) {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return nil, errSyntax
	}
	s.i += len(lit)
	return s.b[s.i-len(lit) : s.i], nil
}

// string scans a string token including its quotes.
func (s *scanner) string() ([]byte, error) {
	start := s.i
	if !s.eat('"') {
		return nil, errSyntax
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return s.b[start:s.i], nil
		case c < 0x20:
			return nil, errSyntax
		case c == '\\':
			if err := s.escape(); err != nil {
				return nil, err
			}
		}
	}
	return nil, errSyntax
}

func (s *scanner) escape() error {
	if s.i >= len(s.b) {
		return errSyntax
	}
	c := s.b[s.i]
	s.i++
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return nil
	case 'u':
		if len(s.b)-s.i < 4 {
			return errSyntax
		}
		for _, h := range s.b[s.i : s.i+4] {
			if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
				return errSyntax
			}
		}
		s.i += 4
		return nil
	}
	return errSyntax
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() ([]byte, error) {
	start := s.i
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.digits() == 0:
		return nil, errSyntax
	}
	if s.eat('.') && s.digits() == 0 {
		return nil, errSyntax
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return nil, errSyntax
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// container skips an object or array, validating it.
func (s *scanner) container(depth int) ([]byte, error) {
	start := s.i
	closer := byte(']')
	if s.b[s.i] == '{' {
		closer = '}'
	}
	s.i++
	s.ws()
	if s.eat(closer) {
		return s.b[start:s.i], nil
	}
	for {
		if closer == '}' {
			if _, err := s.string(); err != nil {
				return nil, err
			}
			s.ws()
			if !s.eat(':') {
				return nil, errSyntax
			}
			s.ws()
		}
		if _, err := s.value(depth); err != nil {
			return nil, err
		}
		s.ws()
		if s.eat(closer) {
			return s.b[start:s.i], nil
		}
		if !s.eat(',') {
			return nil, errSyntax
		}
		s.ws()
	}
}
