//! What this member holds of each assigned partition, one assignment generation at a time.
//!
//! Every assignment of a partition (and every restart of it after a fenced commit) opens a
//! new *generation*. A record is tagged with its partition's generation when it is polled,
//! and only records of the current generation ever reach a batch: whatever was buffered
//! before a revocation dies with the generation it was polled in, and so does the
//! per-partition order memory (keyed by generation, see `OrderMemory`).
//!
//! The offset row must only ever move contiguously: a batch for partition P starts exactly
//! where P's stored next offset points. Kafka offsets may legally skip (compaction,
//! transaction markers), so "exactly" is told by provenance, not arithmetic:
//! - a generation starts fetching at the stored next offset, so the first record it polls is
//!   by definition the next record the broker has at or after that offset (a legal skip);
//! - within a generation, librdkafka delivers the fetched records in offset order, and each
//!   polled record gets the next arrival number; records behind the stored offset or behind
//!   the last one polled (redeliveries) are dropped before they are numbered;
//! - a batch takes the records of a partition only as a run of arrival numbers continuing
//!   exactly where the previous batch of the generation stopped. Anything else means a record
//!   of the generation went missing between poll and batch — a gap: the partition's records
//!   are refused and the partition restarts from its stored offset in a new generation.
//!
//! So offsets jump only where the broker's own fetch jumped; nothing orderflow polled is ever
//! skipped. Pure bookkeeping: no Kafka or PostgreSQL here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Record;

/// What this consumer knows of a partition's offset row in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StoredOffset {
    /// No row yet: nothing of this partition was ever applied.
    Missing,
    /// The row holds this next offset.
    At(i64),
    /// PostgreSQL could not be read at assignment: read it before the first write.
    Unknown,
}

/// Where a polled record belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub generation: u64,
    /// Arrival number within the generation: 0, 1, 2, ...
    pub seq: u64,
}

#[derive(Debug)]
struct Partition {
    generation: u64,
    stored: StoredOffset,
    relay_pending: bool,
    /// Arrival number of the next record polled.
    polled: u64,
    /// Arrival number the next batch of this partition must start with.
    batched: u64,
    last_polled: Option<i64>,
}

/// The partitions assigned to this member.
#[derive(Debug, Default)]
pub(super) struct Assignments {
    partitions: HashMap<i32, Partition>,
    last_generation: u64,
}

/// The records a batch may handle, and the partitions found with a gap.
#[derive(Debug, Default)]
pub(super) struct Admitted {
    pub records: Vec<Record>,
    /// Partitions whose records did not continue the generation: restart them.
    pub gaps: Vec<i32>,
    /// Generation of each partition in `records`: the batch commits only within it.
    pub generations: BTreeMap<i32, u64>,
}

impl Assignments {
    /// Opens a new generation of `partition` starting at `stored`; its outbox awaits relay.
    pub(super) fn assign(&mut self, partition: i32, stored: StoredOffset) -> u64 {
        self.last_generation += 1;
        self.partitions.insert(
            partition,
            Partition {
                generation: self.last_generation,
                stored,
                relay_pending: true,
                polled: 0,
                batched: 0,
                last_polled: None,
            },
        );
        self.last_generation
    }

    pub(super) fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    pub(super) fn assigned(&self) -> Vec<i32> {
        let mut partitions: Vec<i32> = self.partitions.keys().copied().collect();
        partitions.sort_unstable();
        partitions
    }

    pub(super) fn generation(&self, partition: i32) -> Option<u64> {
        self.partitions.get(&partition).map(|p| p.generation)
    }

    pub(super) fn stored(&self, partition: i32) -> Option<StoredOffset> {
        self.partitions.get(&partition).map(|p| p.stored)
    }

    /// Tags a polled record; None if it is not to be handled here: its partition is not
    /// assigned, or it is behind the stored offset or the last record polled (redelivered).
    pub(super) fn tag(&mut self, partition: i32, offset: i64) -> Option<Tag> {
        let p = self.partitions.get_mut(&partition)?;
        if let StoredOffset::At(next) = p.stored
            && offset < next
        {
            return None;
        }
        if p.last_polled.is_some_and(|last| offset <= last) {
            return None;
        }
        p.last_polled = Some(offset);
        let seq = p.polled;
        p.polled += 1;
        Some(Tag {
            generation: p.generation,
            seq,
        })
    }

    /// The records a batch may take: those of current generations, each partition's as a run
    /// continuing exactly where its previous batch stopped. A partition that does not
    /// continue is reported in `gaps` and none of its records is admitted.
    pub(super) fn admit(&mut self, records: Vec<Record>) -> Admitted {
        let mut admitted = Admitted::default();
        let mut expected: HashMap<i32, u64> = HashMap::new();
        let mut gaps = BTreeSet::new();
        let mut kept = Vec::with_capacity(records.len());
        for record in records {
            let Some(p) = self.partitions.get(&record.partition) else {
                continue;
            };
            if record.tag.generation != p.generation || gaps.contains(&record.partition) {
                continue;
            }
            let next = expected.entry(record.partition).or_insert(p.batched);
            if record.tag.seq < *next {
                continue; // handed out before: a duplicate in the buffer
            }
            if record.tag.seq != *next {
                gaps.insert(record.partition);
                continue;
            }
            *next += 1;
            kept.push(record);
        }
        kept.retain(|r| !gaps.contains(&r.partition));
        for (partition, next) in expected {
            if gaps.contains(&partition) {
                continue;
            }
            if let Some(p) = self.partitions.get_mut(&partition) {
                p.batched = next;
                admitted.generations.insert(partition, p.generation);
            }
        }
        admitted
            .generations
            .retain(|p, _| kept.iter().any(|r| r.partition == *p));
        admitted.records = kept;
        admitted.gaps = gaps.into_iter().collect();
        admitted
    }

    /// Whether every partition of a batch is still in the generation the batch was taken in.
    pub(super) fn still_current(&self, generations: &BTreeMap<i32, u64>) -> bool {
        generations
            .iter()
            .all(|(p, g)| self.generation(*p) == Some(*g))
    }

    /// Records what PostgreSQL holds now, for a partition still in `generation`.
    pub(super) fn set_stored(&mut self, partition: i32, generation: u64, stored: StoredOffset) {
        if let Some(p) = self.partitions.get_mut(&partition)
            && p.generation == generation
        {
            p.stored = stored;
        }
    }

    /// Records the stored offset read late (it was `Unknown` at assignment).
    pub(super) fn learn_stored(&mut self, partition: i32, stored: StoredOffset) {
        if let Some(p) = self.partitions.get_mut(&partition)
            && p.stored == StoredOffset::Unknown
        {
            p.stored = stored;
        }
    }

    pub(super) fn relay_pending(&self) -> Vec<(i32, u64)> {
        let mut pending: Vec<(i32, u64)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.relay_pending)
            .map(|(&partition, p)| (partition, p.generation))
            .collect();
        pending.sort_unstable();
        pending
    }

    pub(super) fn relayed(&mut self, partition: i32, generation: u64) {
        if let Some(p) = self.partitions.get_mut(&partition)
            && p.generation == generation
        {
            p.relay_pending = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polled(a: &mut Assignments, partition: i32, offsets: std::ops::Range<i64>) -> Vec<Record> {
        offsets
            .filter_map(|offset| {
                let tag = a.tag(partition, offset)?;
                Some(Record {
                    partition,
                    offset,
                    tag,
                    timestamp: None,
                    key: None,
                    payload: Vec::new(),
                    trace: None,
                    idempotency: None,
                    replay_count: 0,
                })
            })
            .collect()
    }

    fn offsets(records: &[Record]) -> Vec<i64> {
        records.iter().map(|r| r.offset).collect()
    }

    /// The hole this module closes: records buffered before a lost assignment must never be
    /// applied after the partition comes back at an earlier stored offset.
    #[test]
    fn records_buffered_before_a_lost_assignment_die_with_it() {
        let mut a = Assignments::default();
        a.assign(0, StoredOffset::At(10));
        let mut buffer = polled(&mut a, 0, 10..30);
        let first: Vec<Record> = buffer.drain(..5).collect();
        let batch = a.admit(first);
        assert_eq!(offsets(&batch.records), (10..15).collect::<Vec<_>>());
        // The assignment is lost mid-batch; the batch is abandoned (nothing stored) and the
        // partition comes back at the stored offset, 10.
        a.revoke(0);
        a.assign(0, StoredOffset::At(10));
        let stale = a.admit(buffer);
        assert!(
            stale.records.is_empty(),
            "15..30 of the old generation would move the offset past 10..15"
        );
        assert!(
            stale.gaps.is_empty(),
            "dropped as stale, not taken for a gap"
        );
        let again = polled(&mut a, 0, 10..20);
        assert_eq!(
            offsets(&a.admit(again).records),
            (10..20).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_record_missing_between_poll_and_batch_is_a_gap_and_nothing_of_the_partition_goes() {
        let mut a = Assignments::default();
        a.assign(0, StoredOffset::At(0));
        a.assign(1, StoredOffset::At(0));
        let mut records = polled(&mut a, 0, 0..6);
        records.extend(polled(&mut a, 1, 0..3));
        records.remove(2); // offset 2 of partition 0 got lost
        let admitted = a.admit(records);
        assert_eq!(admitted.gaps, [0]);
        assert!(admitted.records.iter().all(|r| r.partition == 1));
        assert_eq!(admitted.records.len(), 3);
    }

    #[test]
    fn a_batch_must_continue_where_the_previous_one_stopped() {
        let mut a = Assignments::default();
        a.assign(0, StoredOffset::At(0));
        let mut records = polled(&mut a, 0, 0..10);
        let second = records.split_off(5);
        assert_eq!(a.admit(records).records.len(), 5);
        let (skipped, rest) = second.split_at(1);
        assert_eq!(skipped[0].offset, 5);
        assert_eq!(a.admit(rest.to_vec()).gaps, [0], "6.. without 5 is a gap");
    }

    #[test]
    fn the_broker_may_skip_offsets_compaction_and_markers_are_not_gaps() {
        let mut a = Assignments::default();
        a.assign(0, StoredOffset::At(100));
        // The fetch at 100 returns 104 first (100..104 compacted away), then 107 (a marker).
        let records: Vec<Record> = [104, 105, 107]
            .into_iter()
            .flat_map(|o| polled(&mut a, 0, o..o + 1))
            .collect();
        let admitted = a.admit(records);
        assert!(admitted.gaps.is_empty());
        assert_eq!(offsets(&admitted.records), [104, 105, 107]);
    }

    #[test]
    fn records_behind_the_stored_offset_or_redelivered_are_not_tagged() {
        let mut a = Assignments::default();
        a.assign(0, StoredOffset::At(5));
        assert!(a.tag(0, 4).is_none(), "already applied");
        assert!(a.tag(0, 5).is_some());
        assert!(a.tag(0, 5).is_none(), "redelivered");
        assert!(a.tag(1, 0).is_none(), "not assigned");
    }

    #[test]
    fn state_of_an_old_generation_never_overwrites_the_new_one() {
        let mut a = Assignments::default();
        let old = a.assign(0, StoredOffset::At(0));
        let new = a.assign(0, StoredOffset::At(7));
        a.set_stored(0, old, StoredOffset::At(3));
        assert_eq!(a.stored(0), Some(StoredOffset::At(7)));
        a.set_stored(0, new, StoredOffset::At(9));
        assert_eq!(a.stored(0), Some(StoredOffset::At(9)));
        assert!(!a.still_current(&BTreeMap::from([(0, old)])));
        a.relayed(0, old);
        assert_eq!(a.relay_pending(), [(0, new)]);
    }
}
