package broker

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// UsersFile is the YAML users file:
//
//	users:
//	  - name: generator1
//	    password_hash: $2a$10$...   # bcrypt; make it with `edgespool broker passwd`
//	    publish: [emergency_generator/{username}]   # optional; default: the configured rules
//	    subscribe: []                               # optional
type UsersFile struct {
	Users []User `yaml:"users"`
}

// User is one entry of the users file. A nil Publish or Subscribe means the
// broker's default rules; an empty list means none.
type User struct {
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"`
	Publish      []string `yaml:"publish,omitempty"`
	Subscribe    []string `yaml:"subscribe,omitempty"`
}

// ErrUsersFile wraps every problem of a users file.
var ErrUsersFile = errors.New("users file")

// ParseUsers decodes and checks a users file (strict: unknown keys are
// errors). An empty file is an error too: it is what a reload sees in the
// middle of an editor's rewrite; no users is written `users: []`.
func ParseUsers(data []byte) (UsersFile, error) {
	var f UsersFile
	if len(bytes.TrimSpace(data)) == 0 {
		return f, fmt.Errorf("%w: empty (write users: [] for none)", ErrUsersFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%w: %w", ErrUsersFile, err)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		switch {
		case u.Name == "":
			return f, fmt.Errorf("%w: users[%d]: empty name", ErrUsersFile, i)
		case seen[u.Name]:
			return f, fmt.Errorf("%w: user %q listed twice", ErrUsersFile, u.Name)
		case !isBcrypt(u.PasswordHash):
			return f, fmt.Errorf("%w: user %q: password_hash is not a bcrypt hash ($2a$, $2b$ or $2y$)", ErrUsersFile, u.Name)
		}
		seen[u.Name] = true
		for _, flt := range append(append([]string{}, u.Publish...), u.Subscribe...) {
			if !validFilter(strings.ReplaceAll(flt, "{username}", "u")) {
				return f, fmt.Errorf("%w: user %q: invalid topic filter %q", ErrUsersFile, u.Name, flt)
			}
		}
	}
	return f, nil
}

func isBcrypt(h string) bool {
	_, err := bcrypt.Cost([]byte(h))
	return err == nil
}

// HashPassword returns the bcrypt hash of password at cost (0: bcrypt's
// default cost).
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// SetUser adds name to the users file at path with the bcrypt hash of
// password, or replaces the hash of an existing entry (its rules stay).
// The file is rewritten whole (comments are not kept), mode 0600.
func SetUser(path, name, password string, cost int) error {
	var f UsersFile
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if f, err = ParseUsers(data); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read users file: %w", err)
	}
	hash, err := HashPassword(password, cost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	i := 0
	for i < len(f.Users) && f.Users[i].Name != name {
		i++
	}
	if i == len(f.Users) {
		f.Users = append(f.Users, User{Name: name})
	}
	f.Users[i].PasswordHash = hash
	out, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	return writeFileSync(path, out, 0o600)
}

// rules are the topic filters one client may publish and subscribe to.
type rules struct {
	publish, subscribe []string
}

func (r *rules) allows(topic string, write bool) bool {
	list := r.subscribe
	if write {
		list = r.publish
	}
	for _, f := range list {
		if covers(f, topic) {
			return true
		}
	}
	return false
}

// users is one loaded users file with the default rules; immutable but for
// the cache of verified passwords.
type users struct {
	byName             map[string]User
	publish, subscribe []string // defaults
	verified           sync.Map // name → sha256 of the last password that matched
}

func newUsers(f UsersFile, publish, subscribe []string) *users {
	u := &users{byName: map[string]User{}, publish: publish, subscribe: subscribe}
	for _, e := range f.Users {
		u.byName[e.Name] = e
	}
	return u
}

// authenticate checks name and password; bcrypt runs once per distinct
// password (a reconnecting device does not pay it again).
func (u *users) authenticate(name string, password []byte) bool {
	e, ok := u.byName[name]
	if !ok {
		return false
	}
	sum := sha256.Sum256(password)
	if v, ok := u.verified.Load(name); ok {
		prev := v.([32]byte)
		if subtle.ConstantTimeCompare(prev[:], sum[:]) == 1 {
			return true
		}
	}
	if bcrypt.CompareHashAndPassword([]byte(e.PasswordHash), password) != nil {
		return false
	}
	u.verified.Store(name, sum)
	return true
}

// rulesFor returns name's rules ("" for an anonymous client: the default
// rules without the filters naming {username}).
func (u *users) rulesFor(name string) *rules {
	pub, sub := u.publish, u.subscribe
	if e, ok := u.byName[name]; ok {
		if e.Publish != nil {
			pub = e.Publish
		}
		if e.Subscribe != nil {
			sub = e.Subscribe
		}
	}
	return &rules{publish: expandUser(pub, name), subscribe: expandUser(sub, name)}
}

func expandUser(filters []string, name string) []string {
	out := make([]string, 0, len(filters))
	for _, f := range filters {
		if !strings.Contains(f, "{username}") {
			out = append(out, f)
			continue
		}
		if name == "" || strings.ContainsAny(name, "/+#") {
			continue // no user, or one whose name would widen the filter
		}
		out = append(out, strings.ReplaceAll(f, "{username}", name))
	}
	return out
}
