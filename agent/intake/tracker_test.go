package intake

import "testing"

// at is a reading of seq with event time t seconds.
func at(seq uint64, t int64) arrival { return arrival{seq: seq, time: t * 1e9} }

func TestTrackerVerdicts(t *testing.T) {
	stamped := arrival{seq: 3, time: 99e9, stamped: true}
	cases := []struct {
		name        string
		stored      []arrival
		in          arrival
		redelivered bool
		want        verdict
	}{
		{"next seq", []arrival{at(1, 1), at(2, 2)}, at(3, 3), false, seqNew},
		{"redelivery of a stored reading", []arrival{at(1, 1), at(2, 2)}, at(1, 1), true, seqDup},
		{"copy of a stored reading without the DUP flag", []arrival{at(1, 1), at(2, 2), at(3, 3)}, at(2, 2), false, seqResent},
		{"copy of seq 1 without the DUP flag", []arrival{at(1, 1), at(2, 2)}, at(1, 1), false, seqResent},
		{"publisher restarted at 1", []arrival{at(1, 1), at(2, 2)}, at(1, 10), false, seqRestart},
		{"publisher restarted, seq 1 lost", []arrival{at(1, 1), at(2, 2), at(3, 3)}, at(2, 10), false, seqLate},
		{"late reading never stored", []arrival{at(1, 1), at(3, 3)}, at(2, 2), false, seqLate},
		{"redelivery of a reading never stored", []arrival{at(1, 1), at(3, 3)}, at(2, 2), true, seqLate},
		{"stamped copy without the DUP flag", []arrival{at(1, 1), {seq: 3, time: 5e9, stamped: true}}, stamped, false, seqLate},
		{"stamped redelivery", []arrival{at(1, 1), {seq: 3, time: 5e9, stamped: true}}, stamped, true, seqDup},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTracker()
			for _, a := range c.stored {
				tr.seed("g1", a)
			}
			if got, _ := tr.observe("g1", c.in, c.redelivered); got != c.want {
				t.Fatalf("verdict %d, want %d", got, c.want)
			}
		})
	}
}

func TestTrackerKeepsStateAcrossAnUnflaggedCopyOfSeqOne(t *testing.T) {
	tr := newTracker()
	for i := uint64(1); i <= 5; i++ {
		tr.observe("g1", at(i, int64(i)), false)
	}
	if v, _ := tr.observe("g1", at(1, 1), false); v != seqResent {
		t.Fatalf("copy of seq 1: verdict %d, want seqResent", v)
	}
	// Had the copy been taken for a restart, 6 would be new after a reset
	// and 3 would no longer be known.
	if v, gap := tr.observe("g1", at(6, 6), false); v != seqNew || gap != 0 {
		t.Fatalf("seq 6: verdict %d gap %d, want seqNew and no gap", v, gap)
	}
	if v, _ := tr.observe("g1", at(3, 3), true); v != seqDup {
		t.Fatalf("redelivered 3: verdict %d, want seqDup", v)
	}
}

func TestTrackerForgetsBeyondItsWindow(t *testing.T) {
	tr := newTracker()
	tr.observe("g1", at(2, 1), false)
	tr.observe("g1", at(seqWindow+3, 2), false)
	if v, _ := tr.observe("g1", at(2, 1), false); v != seqLate {
		t.Fatalf("seq below the window: verdict %d, want seqLate (not remembered)", v)
	}
}
