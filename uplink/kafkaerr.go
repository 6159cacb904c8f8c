package uplink

import (
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// classifyKafka classifies a kafka-go error. Only errors about the records
// themselves are rejections; configuration, authorization and broker
// errors keep the data and the link retrying, so an operator can fix them
// without losing a reading.
func classifyKafka(err error) error {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		return classifyWriteErrors(we)
	}
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return TooLarge(err)
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge:
			return TooLarge(err)
		case kafka.InvalidTimestamp, kafka.InvalidRecord:
			return Permanent(err)
		case kafka.ThrottlingQuotaExceeded:
			return Throttled(err, 0)
		}
	}
	return Retryable(err)
}

// classifyWriteErrors classifies the per-message errors of one write by
// the most severe class among them: a rejection (split and isolate) over a
// throttle over a plain retry.
func classifyWriteErrors(we kafka.WriteErrors) error {
	var worst error
	rank := -1
	for _, e := range we {
		if e == nil {
			continue
		}
		c := classifyKafka(e)
		if r := classRank(ClassOf(c)); r > rank {
			worst, rank = c, r
		}
	}
	if worst == nil {
		return Retryable(we)
	}
	var ce *Error
	errors.As(worst, &ce)
	failed := make([]int, 0, we.Count())
	for i, e := range we {
		if e != nil {
			failed = append(failed, i)
		}
	}
	return &Error{Class: ce.Class, RetryAfter: ce.RetryAfter, Index: -1, Failed: failed, Err: we}
}

// withFailed turns the Failed positions of a write of km[start:end] into
// positions of the whole Send of n messages: the writes after it were not
// attempted. Without per-message results, everything from start failed.
func withFailed(err error, start, end, n int) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	failed := make([]int, 0, n-start)
	if e.Failed == nil {
		for i := start; i < end; i++ {
			failed = append(failed, i)
		}
	} else {
		for _, i := range e.Failed {
			failed = append(failed, start+i)
		}
	}
	for i := end; i < n; i++ {
		failed = append(failed, i)
	}
	if start == 0 && e.Failed == nil {
		return err // nothing known to be delivered
	}
	c := *e
	c.Failed = failed
	return fmt.Errorf("kafka write: %w", &c)
}

func classRank(c Class) int {
	switch c {
	case ClassTooLarge:
		return 3
	case ClassPermanent:
		return 2
	case ClassThrottled:
		return 1
	}
	return 0
}
