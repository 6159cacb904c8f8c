/*
Package spool implements a durable, bounded, multi-consumer log of sequenced
records in one bbolt file.

A spool holds named streams ("raw", "downsampled", "deadletter", ...). Every
record of a stream gets a sequence number (Seq) that is strictly increasing
within the stream, starting at 1, and never reused, not even after the
records are deleted. Named consumers keep one durable cursor per stream: the
Seq of the last record they have finished with. Records acknowledged by every
consumer of their stream are deleted; byte and age caps drop the oldest
records of the lowest-priority stream first and tell each affected consumer
how many it lost.

# Durability

Append hands its records to a group-commit loop: whatever is queued when the
previous bbolt transaction ends (bounded by Options.CommitMaxRecords, after an
optional Options.CommitMaxDelay) goes into one read-write transaction, and
every Append of that transaction returns after bbolt's commit, that is after
its fdatasync of the data pages and of the meta page. Ack and Commit travel
through the same loop, so a commit cycle may carry appends, cursor moves and
the deletions they allow, all in one transaction. A crash at any instant
leaves the file as of the last completed commit.

# On-disk format

The file is a bbolt database (go.etcd.io/bbolt, format version 2, page size
of the OS). Integers are big-endian. CRC is CRC-32C (Castagnoli). The
top-level buckets are:

	"spool"    format marker
	"streams"  per-stream state
	"cursors"  per (consumer, stream) cursor
	"records"  one nested bucket per stream, named by the stream

"spool" bucket:

	key "format"    value "edgespool-spool/1"
	key "salvaged"  value RFC 3339 time of the last salvage (absent if none)

An empty file, or a bbolt file without any bucket (what a crash during
creation leaves), is initialised. A file with another format value, or a
sound bbolt file without the spool's buckets, is not a spool: Open refuses
it with ErrNotSpool and leaves it untouched (see Corruption).

"streams" bucket, one key per stream ever written, key = stream name
(1..255 bytes, no NUL byte), value of 53 bytes:

	off  len  field
	0    1    version = 1
	1    4    CRC-32C of bytes 5..52
	5    8    LastSeq  last Seq ever assigned in the stream
	13   8    Trimmed  every Seq <= Trimmed has left the stream for good
	21   8    Records  number of records held
	29   8    Bytes    logical bytes held (see below)
	37   8    Dropped  records dropped by caps since the stream began
	45   8    Corrupt  records lost to corruption since the stream began

"cursors" bucket, key = consumer name, one NUL byte, stream name; value:

	off  len  field
	0    1    version = 1
	1    4    CRC-32C of bytes 5..end
	5    8    Seq      last Seq the consumer is done with (0 = none)
	13   8    Dropped  records dropped by caps before this consumer read them
	21   ...  Meta     opaque consumer state (may be empty)

"records"/<stream> bucket, key = Seq as 8 bytes big-endian, value:

	off  len  field
	0    1    version = 1
	1    4    CRC-32C of: stream name, one NUL byte, bytes 5..end,
	          the 8-byte key
	5    8    Appended  Unix nanoseconds at which the spool accepted it
	13   8    Time      event time, Unix nanoseconds (two's complement)
	21   n    uvarint length of Key
	21+n k    Key (device id)
	...       Value (opaque payload, the rest of the bbolt value)

The stream name and the key take part in the record CRC, so a value moved
under another key is detected as well as a flipped bit, and a record found
on any page of a damaged file can be attributed to its stream and Seq. The logical size of a record is the length
of its bbolt key plus value (8 + len(value)); the caps and Stats count logical
bytes, the file adds bbolt's page and element overhead.

# Invariants

At the end of every transaction:

 1. Keys in a records bucket are exactly 8 bytes and increase strictly;
    every key is <= the stream's LastSeq.
 2. A stream's Records and Bytes equal the count and the summed logical size
    of its records bucket.
 3. A cursor's Seq is <= its stream's LastSeq: a cursor is never ahead of
    the data.
 4. Records only leave a stream from its oldest end (acknowledged by all its
    consumers, or dropped by a cap), except records found corrupt.
 5. LastSeq and Trimmed never decrease; Trimmed <= LastSeq; every key is
    > Trimmed.

Appended records, the cursor moves and the state updates of one commit are
in the same bbolt transaction, so the invariants hold after any crash.

Buckets of records only ever receive increasing keys, so they are written
with FillPercent 1.0. The freelist is not synced by commits (NoFreelistSync)
and is kept as a hash map. Close writes it once, in a last empty
transaction, so that the next open reads it instead of walking the whole
file; the first commit after that open drops it again, so after a crash bbolt
rebuilds it by walking the tree (the file is read ahead first). The
structure check at open refuses a saved freelist that lists a page in use.

# Memory

bbolt reads the file through a shared, read-only memory map, and every page
a read touches counts in the process's resident set until it is unmapped.
The spool releases the map's pages (madvise MADV_DONTNEED, Linux) after
every 4 MiB that reads, deletions, the scan at open or a compaction went
through: the resident set stays a few MiB above the heap whatever the size
of the backlog being drained. The pages stay in the page cache.

# Reading and gaps

Read and ReadAfter return records with consecutive Seqs only: a gap (records
dropped by a cap, deleted by retention, or lost to corruption) is reported in
Batch.Skipped before the first returned record and ends the batch when it
follows a returned record. A consumer acknowledges the last returned Seq, or
after+Skipped when a batch holds no record, so each gap is reported once.

# Retention and caps

After each commit cycle: records acknowledged by all consumers of their
stream (Options.Consumers) are deleted, but for the newest
Options.KeepDelivered of the stream, which the caps release before any
record still to be delivered, without counting them as dropped; records older than Options.MaxAge
(by the time they were appended) are dropped; and while logical bytes exceed
the cap the oldest records of the lowest-priority stream are dropped.
Streams of the highest priority (by default "downsampled") have a reserve
(Options.ReserveBytes) that the other streams cannot use, and are dropped
last. With Options.Overflow = RejectNew, Append and Commit instead fail with
ErrFull and nothing is dropped for the cap. Every dropped record is counted
per stream (Stats.Streams[].Dropped, dropped_records_total) and per
consumer that will never be handed it (see Accounting).

# Accounting

A consumer's Dropped (ConsumerStats.Dropped, the cursor's Dropped field,
consumer_dropped_records_total) counts exactly the records of the stream
that the consumer will never be handed:

  - a record dropped by a cap with Seq above the consumer's durable cursor
    that the consumer was never handed by a read;
  - a record it was handed (ReadFor or Read returned it, or a read in
    progress may) and that was then dropped, once the consumer reads again
    from below it without getting it, or the spool closes before the
    consumer acknowledged it. If the consumer acknowledges past it, it was
    delivered and is not counted;
  - for an orphan cursor, any record leaving the stream above it.

Consumers that read with ReadAfter (no consumer name) are counted against
their durable cursor alone, so records they held unacknowledged count as
dropped. Handed-and-dropped records not yet resolved are kept in memory
only: after a crash nobody but the consumer (Batch.Skipped) counts them.
A commit that drops records keeps reads by ReadFor from starting until it
has committed (one commit's wait, only while a cap drops).

# Consumers and orphan cursors

A cursor whose consumer is not listed in Options.Consumers for its stream
(a sink renamed or removed) is kept as an orphan: its position and
counters stay, so that listing the consumer again resumes where it
stopped, but it holds nothing back: records acknowledged by the listed
consumers are deleted and the caps drop records as if it did not exist.
Orphans are logged at Open (a warning each), flagged in Stats
(ConsumerStats.Orphan) and counted by the gauge orphan_cursors.
RemoveConsumer deletes a consumer's cursors; a listed consumer cannot be
removed. With Options.Consumers nil (maintenance) no cursor is an orphan.

bbolt v1.4 has no maximum file size, so the spool keeps its own backstop
on the pages bbolt uses (its high water mark): 2*MaxBytes+64 MiB, and at
most 992 MiB on 32-bit platforms, below the 1 GiB mmap step and far from
bbolt's 2 GiB mapping limit. At the backstop a sparse file is compacted;
otherwise the cap (and the reserve with it) is lowered to the bytes held
until compaction brings the file back under, so that freed pages are reused
instead of growing the file.

# Compaction

bbolt files never shrink. When the logical bytes fall below a quarter of
the pages in use (files of 64 MiB and more, at most every 5 minutes, or at
the backstop), and on Compact, the live data is copied in 1 MiB
transactions into "<path>.compact", given the owner, group and mode of the spool file (the
compaction fails if it cannot be), synced, renamed over the spool file, and
the spool is reopened; readers and writers wait during the switch.

# Corruption

A second process opening the same file gets ErrLocked after
Options.LockTimeout. A file that bbolt cannot open, or whose structure fails
the scan at open (bbolt panics and memory faults on damaged pages are
recovered), is salvaged if it is recognisably a spool: a page scan finds the
format marker, or a stream state, cursor or record whose checksum holds.
Anything else (a configuration file, a log, another program's database, a
damaged bbolt file without spool data) is refused with ErrNotSpool and left
untouched. A spool is salvaged: every record, cursor and stream state that still
reads back with a valid CRC is copied into a fresh file, the damaged file is
renamed "<path>.corrupt-<unix seconds>", and the event is logged at error
level and counted. A record whose CRC fails is skipped, deleted and counted
(Stats, metrics, and Batch.Skipped for the consumers that had not read it).
The salvaged file keeps the owner, group and mode of the damaged one.
Open never fails for a damaged spool; it fails for a file that is not a
spool (ErrNotSpool) and for errors of the environment (permissions, a
missing directory that cannot be created, a lock held by another process).
With Options.NoSalvage a damaged spool is an error (ErrCorrupt) instead.
Repair salvages like Open and reports what it did (RepairReport).

OpenReadOnly opens a spool for inspection with bbolt read-only and a shared
lock: no salvage, no repair, no retention, no cursor change; writes return
ErrReadOnly. A damaged spool is ErrCorrupt, an empty file or a foreign one
ErrNotSpool, a missing file an error wrapping os.ErrNotExist.

The page reader used for the structure check and salvage reads bbolt's
private layout; it lives in internal/boltpages, whose TestBoltLayoutPinned
fails if a bbolt upgrade changes that layout.

Options.Now is a plain func rather than the agent's clock interface because
spool is a leaf: it imports nothing of edgespool outside its folder.
*/
package spool
