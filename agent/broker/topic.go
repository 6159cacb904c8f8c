package broker

import "strings"

// covers reports whether the allowed filter admits name: a topic (publish)
// or a topic filter (subscribe). '+' in allowed admits any one level
// (including '+'), '#' any rest; a wildcard in name is admitted only by the
// same or a wider wildcard. Topics starting with '$' are admitted only by a
// filter naming that first level.
func covers(allowed, name string) bool {
	if strings.HasPrefix(name, "$") && !strings.HasPrefix(allowed, "$") {
		return false
	}
	for {
		a, aRest, aMore := strings.Cut(allowed, "/")
		n, nRest, nMore := strings.Cut(name, "/")
		switch {
		case a == "#":
			return true
		case n == "#":
			return false // only '#' admits '#'
		case a != "+" && a != n:
			return false
		case !nMore && aMore && aRest == "#":
			return true // "a/#" admits "a"
		case !aMore || !nMore:
			return aMore == nMore
		}
		allowed, name = aRest, nRest
	}
}

// validFilter applies the MQTT rules for topic filters.
func validFilter(f string) bool {
	if f == "" {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) || strings.Contains(l, "+") && l != "+" {
			return false
		}
	}
	return true
}
