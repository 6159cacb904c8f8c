package uplink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestErrorClasses(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		name     string
		err      error
		class    Class
		rejected bool
		after    time.Duration
		index    int
	}{
		{"unclassified", base, ClassRetryable, false, 0, -1},
		{"retryable", Retryable(base), ClassRetryable, false, 0, -1},
		{"throttled", Throttled(base, 3*time.Second), ClassThrottled, false, 3 * time.Second, -1},
		{"permanent", Permanent(base), ClassPermanent, true, 0, -1},
		{"too large", TooLarge(base), ClassTooLarge, true, 0, -1},
		{"wrapped", fmt.Errorf("ctx: %w", Permanent(base)), ClassPermanent, true, 0, -1},
		{"indexed", AtIndex(7, Permanent(base)), ClassPermanent, true, 0, 7},
		{"indexed wrapped", fmt.Errorf("x: %w", AtIndex(2, fmt.Errorf("y: %w", TooLarge(base)))), ClassTooLarge, true, 0, 2},
		{"indexed throttled", AtIndex(1, Throttled(base, time.Second)), ClassThrottled, false, time.Second, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ClassOf(c.err); got != c.class {
				t.Errorf("ClassOf = %v, want %v", got, c.class)
			}
			if got := IsRejected(c.err); got != c.rejected {
				t.Errorf("IsRejected = %v, want %v", got, c.rejected)
			}
			if got := RetryAfter(c.err); got != c.after {
				t.Errorf("RetryAfter = %v, want %v", got, c.after)
			}
			i, ok := IndexOf(c.err)
			if i != c.index || ok != (c.index >= 0) {
				t.Errorf("IndexOf = %d,%v, want %d", i, ok, c.index)
			}
			if !errors.Is(c.err, base) {
				t.Errorf("errors.Is(base) lost by classification")
			}
			var e *Error
			if c.err != base && !errors.As(c.err, &e) {
				t.Errorf("errors.As(*Error) failed")
			}
		})
	}
	if Permanent(nil) != nil || Throttled(nil, time.Second) != nil || AtIndex(1, nil) != nil {
		t.Error("classifying nil must give nil")
	}
	if IsRejected(nil) {
		t.Error("nil is not rejected")
	}
}

func TestClassifyKafka(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"eof", io.ErrUnexpectedEOF, ClassRetryable},
		{"net", &net.OpError{Op: "dial", Err: errors.New("refused")}, ClassRetryable},
		{"leader", kafka.NotLeaderForPartition, ClassRetryable},
		{"unknown topic", kafka.UnknownTopicOrPartition, ClassRetryable},
		{"auth", kafka.TopicAuthorizationFailed, ClassRetryable},
		{"sasl", kafka.SASLAuthenticationFailed, ClassRetryable},
		{"too large", kafka.MessageSizeTooLarge, ClassTooLarge},
		{"too large wrapped", fmt.Errorf("%w: limit", kafka.MessageSizeTooLarge), ClassTooLarge},
		{"client too large", kafka.MessageTooLargeError{}, ClassTooLarge},
		{"record list", kafka.RecordListTooLarge, ClassTooLarge},
		{"timestamp", kafka.InvalidTimestamp, ClassPermanent},
		{"quota", kafka.ThrottlingQuotaExceeded, ClassThrottled},
		{"deadline", context.DeadlineExceeded, ClassRetryable},
		{"write errors mixed", kafka.WriteErrors{nil, kafka.NotLeaderForPartition, kafka.MessageSizeTooLarge}, ClassTooLarge},
		{"write errors retry", kafka.WriteErrors{kafka.LeaderNotAvailable, nil}, ClassRetryable},
		{"write errors none", kafka.WriteErrors{nil, nil}, ClassRetryable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := classifyKafka(c.err)
			if got := ClassOf(err); got != c.want {
				t.Errorf("class of %v = %v, want %v", c.err, got, c.want)
			}
			var we kafka.WriteErrors
			if _, isWE := c.err.(kafka.WriteErrors); isWE {
				if !errors.As(err, &we) {
					t.Errorf("write errors lost: %v", err)
				}
			} else if !errors.Is(err, c.err) && c.name != "client too large" {
				t.Errorf("cause lost: %v", err)
			}
		})
	}
}

func TestKafkaFailedPositions(t *testing.T) {
	err := classifyKafka(kafka.WriteErrors{nil, kafka.NotLeaderForPartition, nil, kafka.NotLeaderForPartition})
	failed, ok := FailedOf(err)
	if !ok || fmt.Sprint(failed) != "[1 3]" || ClassOf(err) != ClassRetryable {
		t.Fatalf("failed %v %v class %v", failed, ok, ClassOf(err))
	}
	// The second write of a Send (messages 4..7 of 10) failed for message
	// 5: 5 and the unattempted 8, 9 are undelivered.
	w := withFailed(fmt.Errorf("kafka write: %w", classifyKafka(kafka.WriteErrors{nil, kafka.RequestTimedOut, nil, nil})), 4, 8, 10)
	if failed, _ := FailedOf(w); fmt.Sprint(failed) != "[5 8 9]" {
		t.Fatalf("failed %v", failed)
	}
	// No per-message result: everything from the failed write on.
	w = withFailed(Retryable(io.EOF), 4, 8, 10)
	if failed, _ := FailedOf(w); fmt.Sprint(failed) != "[4 5 6 7 8 9]" {
		t.Fatalf("failed %v", failed)
	}
	if _, ok := FailedOf(withFailed(Retryable(io.EOF), 0, 8, 10)); ok {
		t.Fatal("first write failed: nothing is known delivered")
	}
}
