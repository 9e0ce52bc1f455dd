//! Sequence accounting for the closed loop: which broadcasts are still in flight and how many
//! receipts each awaits, per-subscriber loss / duplication / reordering, the barrier probes,
//! and the measured window's delivery count and latency histogram.

use std::collections::{HashSet, VecDeque};

use hdrhistogram::Histogram;

use crate::payload::{self, Payload};

/// Index of the publisher among the connections; every other index is a subscriber.
pub const PUBLISHER: usize = 0;
/// Latencies above this (µs) are clamped into the top bucket.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Per-subscriber sequence state.
#[derive(Debug, Default)]
struct SubSeq {
    /// The next sequence number expected.
    next: u64,
    /// Skipped sequence numbers (counted lost until they turn up late).
    late: HashSet<u64>,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    invalid: u64,
    seen_probe: bool,
    gone: bool,
}

/// Counts over the measured window.
#[derive(Debug)]
pub struct Window {
    pub active: bool,
    pub deliveries: u64,
    pub completed: u64,
    pub latency_us: Histogram<u64>,
}

/// Totals at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub invalid: u64,
    pub max_lost_per_subscriber: u64,
    pub subscribers_with_errors: u64,
    pub disconnected: u64,
    pub publisher_copies: u64,
    pub broadcasts: u64,
}

/// The whole bookkeeping of one run.
#[derive(Debug)]
pub struct Tracker {
    subs: Vec<SubSeq>,
    /// Receipts still awaited by broadcast `base_seq + i`.
    pending: VecDeque<u32>,
    base_seq: u64,
    next_seq: u64,
    incomplete: usize,
    required: u32,
    probes_seen: usize,
    publisher_copies: u64,
    last_completion_nanos: u64,
    pub window: Window,
}

impl Tracker {
    /// Bookkeeping for the publisher (index 0) and `subscribers` subscribers (1..=N).
    pub fn new(subscribers: usize) -> Self {
        let latency_us = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
        Self {
            subs: (0..=subscribers).map(|_| SubSeq::default()).collect(),
            pending: VecDeque::new(),
            base_seq: 0,
            next_seq: 0,
            incomplete: 0,
            required: subscribers as u32,
            probes_seen: 0,
            publisher_copies: 0,
            last_completion_nanos: 0,
            window: Window { active: false, deliveries: 0, completed: 0, latency_us },
        }
    }

    /// Subscribers that have received at least one barrier probe.
    pub fn probes_seen(&self) -> usize {
        self.probes_seen
    }

    /// Broadcasts sent but not yet received (or accounted lost) by every live subscriber.
    pub fn incomplete(&self) -> usize {
        self.incomplete
    }

    /// Subscribers still connected (the receipts each new broadcast awaits).
    pub fn live_subscribers(&self) -> u32 {
        self.required
    }

    pub fn last_completion_nanos(&self) -> u64 {
        self.last_completion_nanos
    }

    /// Registers the next broadcast as sent; returns its sequence number.
    pub fn publish_next(&mut self, now_nanos: u64) -> u64 {
        if self.incomplete == 0 {
            self.last_completion_nanos = now_nanos;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back(self.required);
        self.incomplete += 1;
        if self.required == 0 {
            self.complete_one(now_nanos);
        }
        seq
    }

    /// Accounts one payload received by connection `idx` at `now_nanos`.
    pub fn on_payload(&mut self, idx: usize, p: &[u8], now_nanos: u64) {
        if idx == PUBLISHER {
            self.publisher_copies += 1;
            return;
        }
        match payload::parse(p) {
            Payload::Probe => self.on_probe(idx),
            Payload::Data { seq, sent_nanos } if seq < self.next_seq => {
                if self.on_data(idx, seq, now_nanos) && self.window.active {
                    self.record(now_nanos.saturating_sub(sent_nanos));
                }
            }
            Payload::Data { .. } | Payload::Invalid => self.subs[idx].invalid += 1,
        }
    }

    fn on_probe(&mut self, idx: usize) {
        let sub = &mut self.subs[idx];
        if !sub.seen_probe {
            sub.seen_probe = true;
            self.probes_seen += 1;
        }
    }

    /// Sequence check for one data payload; true when it is a first receipt.
    fn on_data(&mut self, idx: usize, seq: u64, now: u64) -> bool {
        let sub = &mut self.subs[idx];
        if sub.gone {
            return false;
        }
        if seq >= sub.next {
            let skipped = sub.next..seq;
            sub.lost += seq - sub.next;
            sub.late.extend(skipped.clone());
            sub.next = seq + 1;
            for s in skipped {
                self.resolve(s, now);
            }
            self.resolve(seq, now);
            return true;
        }
        if sub.late.remove(&seq) {
            sub.lost -= 1;
            sub.out_of_order += 1;
            return true;
        }
        sub.duplicated += 1;
        false
    }

    fn record(&mut self, latency_nanos: u64) {
        self.window.deliveries += 1;
        let us = (latency_nanos / 1000).clamp(1, MAX_LATENCY_US);
        self.window.latency_us.saturating_record(us);
    }

    /// One receipt (or accounted loss) of broadcast `seq`.
    fn resolve(&mut self, seq: u64, now: u64) {
        let Some(i) = seq.checked_sub(self.base_seq) else { return };
        let Some(left) = self.pending.get_mut(i as usize) else { return };
        if *left == 0 {
            return;
        }
        *left -= 1;
        if *left == 0 {
            self.complete_one(now);
        }
    }

    fn complete_one(&mut self, now: u64) {
        self.incomplete -= 1;
        self.last_completion_nanos = now;
        if self.window.active {
            self.window.completed += 1;
        }
        while self.pending.front() == Some(&0) {
            self.pending.pop_front();
            self.base_seq += 1;
        }
    }

    /// Subscriber `idx` went away: what it had not received is lost, and no later broadcast waits
    /// for it.
    pub fn on_disconnect(&mut self, idx: usize, now: u64) {
        if idx == PUBLISHER || self.subs[idx].gone {
            return;
        }
        let sub = &mut self.subs[idx];
        sub.gone = true;
        let missing = sub.next..self.next_seq;
        sub.lost += self.next_seq - sub.next;
        sub.next = self.next_seq;
        self.required -= 1;
        for s in missing {
            self.resolve(s, now);
        }
    }

    pub fn begin_window(&mut self) {
        self.window.active = true;
        self.window.deliveries = 0;
        self.window.completed = 0;
        self.window.latency_us.reset();
    }

    pub fn end_window(&mut self) {
        self.window.active = false;
    }

    /// Totals once sending has stopped and in-flight broadcasts have drained: whatever a live
    /// subscriber still misses counts as lost.
    pub fn finish(&mut self) -> Totals {
        let mut t = Totals {
            publisher_copies: self.publisher_copies,
            broadcasts: self.next_seq,
            ..Totals::default()
        };
        for sub in self.subs.iter_mut().skip(1).filter(|s| !s.gone) {
            sub.lost += self.next_seq - sub.next;
            sub.next = self.next_seq;
        }
        for sub in self.subs.iter().skip(1) {
            t.lost += sub.lost;
            t.duplicated += sub.duplicated;
            t.out_of_order += sub.out_of_order;
            t.invalid += sub.invalid;
            t.max_lost_per_subscriber = t.max_lost_per_subscriber.max(sub.lost);
            let bad = sub.lost + sub.duplicated + sub.out_of_order + sub.invalid > 0 || sub.gone;
            t.subscribers_with_errors += u64::from(bad);
            t.disconnected += u64::from(sub.gone);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(seq: u64) -> Vec<u8> {
        let mut v = Vec::new();
        payload::write_data(&mut v, seq, 0, 16);
        v
    }

    #[test]
    fn completes_when_every_subscriber_has_it() {
        let mut t = Tracker::new(2);
        assert_eq!(t.publish_next(0), 0);
        assert_eq!(t.incomplete(), 1);
        t.on_payload(1, &data(0), 5);
        t.on_payload(PUBLISHER, &data(0), 5);
        assert_eq!(t.incomplete(), 1);
        t.on_payload(2, &data(0), 6);
        assert_eq!((t.incomplete(), t.last_completion_nanos()), (0, 6));
        assert_eq!(t.finish(), Totals { publisher_copies: 1, broadcasts: 1, ..Totals::default() });
    }

    #[test]
    fn gap_then_late_arrival_is_reordering_not_loss() {
        let mut t = Tracker::new(1);
        for _ in 0..3 {
            t.publish_next(0);
        }
        t.on_payload(1, &data(0), 1);
        t.on_payload(1, &data(2), 1);
        assert_eq!(t.incomplete(), 0);
        t.on_payload(1, &data(1), 1);
        t.on_payload(1, &data(1), 1);
        let totals = t.finish();
        assert_eq!((totals.lost, totals.out_of_order, totals.duplicated), (0, 1, 1));
        assert_eq!(totals.subscribers_with_errors, 1);
    }

    #[test]
    fn tail_loss_and_disconnects() {
        let mut t = Tracker::new(2);
        t.publish_next(0);
        t.publish_next(0);
        t.on_payload(1, &data(0), 1);
        t.on_disconnect(2, 1);
        assert_eq!(t.incomplete(), 1);
        t.publish_next(0);
        let totals = t.finish();
        assert_eq!((totals.lost, totals.disconnected, totals.max_lost_per_subscriber), (4, 1, 2));
    }

    #[test]
    fn probes_count_once_per_subscriber() {
        let mut t = Tracker::new(2);
        t.on_payload(1, b"P0:1:", 0);
        t.on_payload(1, b"P1:1:", 0);
        t.on_payload(PUBLISHER, b"P1:1:", 0);
        assert_eq!(t.probes_seen(), 1);
        t.on_payload(2, b"P1:1:", 0);
        assert_eq!(t.probes_seen(), 2);
    }

    #[test]
    fn window_records_latency_of_first_receipts() {
        let mut t = Tracker::new(1);
        t.publish_next(0);
        t.begin_window();
        let mut p = Vec::new();
        payload::write_data(&mut p, 0, 1_000, 16);
        t.on_payload(1, &p, 51_000);
        t.on_payload(1, &p, 52_000);
        t.end_window();
        assert_eq!((t.window.deliveries, t.window.completed), (1, 1));
        assert_eq!(t.window.latency_us.max(), 50);
    }

    #[test]
    fn unsent_sequence_is_invalid() {
        let mut t = Tracker::new(1);
        t.on_payload(1, &data(9), 0);
        t.on_payload(1, b"junk", 0);
        assert_eq!(t.finish().invalid, 2);
    }
}
