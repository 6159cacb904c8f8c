package uplink

import (
	"errors"

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
	return &Error{Class: ce.Class, RetryAfter: ce.RetryAfter, Index: -1, Err: we}
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
