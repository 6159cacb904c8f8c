package uplink

import (
	"errors"
	"fmt"
	"time"
)

// Class says what a forwarder does with a failed batch.
type Class int

const (
	// ClassRetryable: send the same batch again after a backoff (network
	// errors, 5xx, Kafka leader and broker errors). It is the zero value:
	// an unclassified error is retried, never dropped.
	ClassRetryable Class = iota
	// ClassThrottled: the server asked us to slow down; wait RetryAfter
	// (or the backoff when it gave none), then send the same batch again.
	ClassThrottled
	// ClassPermanent: the server will never accept the batch as it is
	// (bad data). The forwarder splits it down to the bad record, which
	// goes to the dead-letter stream.
	ClassPermanent
	// ClassTooLarge: the batch or one record is too large; handled like
	// ClassPermanent (split, then dead-letter a single record too large).
	ClassTooLarge
)

var classNames = [...]string{"retryable", "throttled", "permanent", "too_large"}

// String returns the class name as used in metric labels.
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return fmt.Sprintf("class(%d)", int(c))
	}
	return classNames[c]
}

// Error is a classified sink error. Sinks return it (wrapped or not) from
// Send; use errors.As or the helpers below to inspect it.
type Error struct {
	Class Class
	// RetryAfter is the wait the server asked for (ClassThrottled); 0 when
	// it named none.
	RetryAfter time.Duration
	// Index is the position in the batch of the message that caused the
	// error, or -1 when the sink cannot tell.
	Index int
	// Failed, when not nil, lists the batch positions (ascending) that
	// were not delivered: the others were, and need not be sent again.
	// Sinks set it only when order is kept by resending just those (Kafka:
	// a partition's records of one write succeed or fail together).
	Failed []int
	// Rejected, when not nil, lists the batch positions (ascending) the
	// server refused for good and said so: the forwarder dead-letters them
	// at once, without isolating them record by record. A sink that sets
	// it knows the outcome of every position: Failed (then not nil, maybe
	// empty) lists those to send again, every other one was delivered.
	Rejected []int
	Err      error
}

func (e *Error) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("%s (message %d): %v", e.Class, e.Index, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func classify(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Index: -1, Err: err}
}

// Retryable marks err as worth retrying after a backoff.
func Retryable(err error) error { return classify(ClassRetryable, err) }

// Permanent marks err as a rejection of the data itself.
func Permanent(err error) error { return classify(ClassPermanent, err) }

// TooLarge marks err as a rejection for size.
func TooLarge(err error) error { return classify(ClassTooLarge, err) }

// Throttled marks err as a request to slow down for after (0: unknown).
func Throttled(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Class: ClassThrottled, RetryAfter: after, Index: -1, Err: err}
}

// AtIndex records that the message at index i of the batch caused err,
// keeping err's class (ClassRetryable when it has none).
func AtIndex(i int, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		c := *e
		c.Index = i
		return &c
	}
	return &Error{Class: ClassOf(err), RetryAfter: RetryAfter(err), Index: i, Err: err}
}

// ClassOf returns the class of err: the class of the outermost *Error in
// its chain, ClassRetryable when there is none.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassRetryable
}

// IsRejected reports whether err says the data will never be accepted as
// it is (ClassPermanent or ClassTooLarge).
func IsRejected(err error) bool {
	c := ClassOf(err)
	return err != nil && (c == ClassPermanent || c == ClassTooLarge)
}

// RetryAfter returns the wait a throttling server asked for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Class == ClassThrottled {
		return e.RetryAfter
	}
	return 0
}

// IndexOf returns the batch index of the message that caused err, if the
// sink could tell.
func IndexOf(err error) (int, bool) {
	var e *Error
	for errors.As(err, &e) {
		if e.Index >= 0 {
			return e.Index, true
		}
		err = e.Err
	}
	return -1, false
}

// RejectedOf returns the positions err says the server refused for good
// (and the positions to send again), if the sink could tell.
func RejectedOf(err error) (rejected, failed []int, ok bool) {
	var e *Error
	if errors.As(err, &e) && e.Rejected != nil {
		return e.Rejected, e.Failed, true
	}
	return nil, nil, false
}

// FailedOf returns the positions of the messages err says were not
// delivered, if the sink could tell.
func FailedOf(err error) ([]int, bool) {
	var e *Error
	if errors.As(err, &e) && e.Failed != nil {
		return e.Failed, true
	}
	return nil, false
}
