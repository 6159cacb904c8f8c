package uplink

import (
	"cmp"
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

// classifyWriteErrors classifies the per-message errors of one write.
// Messages refused as invalid (ClassPermanent: InvalidRecord,
// InvalidTimestamp) are settled at once in Error.Rejected: kafka-go reports
// the error of a partition's produce batch on each of its messages, and
// the broker wrote none of them. The other failed messages are listed in
// Failed, classified by the most severe class among them: a size refusal
// (split and isolate) over a throttle over a plain retry.
func classifyWriteErrors(we kafka.WriteErrors) error {
	var worst, refusal error
	var rejected []int
	failed := []int{}
	rank := -1
	for i, e := range we {
		if e == nil {
			continue
		}
		c := classifyKafka(e)
		if ClassOf(c) == ClassPermanent {
			refusal = cmp.Or(refusal, c)
			rejected = append(rejected, i)
			continue
		}
		failed = append(failed, i)
		if r := classRank(ClassOf(c)); r > rank {
			worst, rank = c, r
		}
	}
	if worst == nil && refusal == nil {
		return Retryable(we)
	}
	// kafka-go's own text repeats one line per message: keep the count and
	// the first error, so that /status and the logs stay readable.
	summary := writeErrors{all: we, failed: len(failed) + len(rejected), first: cmp.Or(worst, refusal)}
	out := &Error{Class: ClassPermanent, Index: -1, Failed: failed, Rejected: rejected, Err: summary}
	if refusal != nil {
		out.Err = refusal
	}
	if worst != nil {
		out.Class, out.RetryAfter = ClassOf(worst), RetryAfter(worst)
	}
	return out
}

// withFailed turns the positions of a write of km[start:end] into
// positions of the whole Send of n messages: the writes after it were not
// attempted. Without per-message results, everything from start failed.
func withFailed(err error, start, end, n int) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	if start == 0 && e.Failed == nil && e.Rejected == nil {
		return err // nothing known to be delivered
	}
	c := *e
	c.Failed = shift(make([]int, 0, n-start), e.Failed, start)
	if e.Failed == nil && e.Rejected == nil {
		c.Failed = appendRange(c.Failed, start, end)
	}
	c.Failed = appendRange(c.Failed, end, n)
	if e.Rejected != nil {
		c.Rejected = shift(nil, e.Rejected, start)
	}
	return fmt.Errorf("kafka write: %w", &c)
}

func shift(dst, pos []int, by int) []int {
	for _, i := range pos {
		dst = append(dst, by+i)
	}
	return dst
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

// writeErrors is kafka-go's per-message errors of one write, shown as a
// count and the first error; both stay reachable with errors.Is and As.
type writeErrors struct {
	all    kafka.WriteErrors
	failed int
	first  error
}

func (e writeErrors) Error() string {
	return fmt.Sprintf("kafka write errors (%d/%d), first: %v", e.failed, len(e.all), e.first)
}

func (e writeErrors) Unwrap() []error { return []error{e.all, e.first} }
