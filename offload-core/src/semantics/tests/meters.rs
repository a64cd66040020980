//! Meters in the reference: the exact token bucket, red actions, time.

use super::*;
use crate::ir::{Bucket, Color, MeterRate, NANO};
use crate::semantics::{run_timed, run_timed_traced, MeterState};

fn module(unit: &str, rate: u64, burst: u64, red: &str) -> Module {
    crate::spec::compile(&format!(
        r#"
[module]
name = "m"
default = "pass"
[ports]
out = 2
[[table]]
name = "lim"
keys = [{{ field = "ipv4.src", match = "lpm" }}]
actions = ["send"]
default_action = "send"
counters = true
meter = {{ unit = "{unit}", rate = {rate}, burst = {burst}, red = "{red}" }}
[action.send]
do = ["forward(out)"]
[[entry.lim]]
match = {{ "ipv4.src" = "10.0.0.0/8" }}
action = "send"
[[entry.lim]]
match = {{ "ipv4.src" = "10.9.0.0/16" }}
meter = {{ rate = {rate}, burst = {big} }}
action = "send"
"#,
        big = burst + 1
    ))
    .unwrap()
}

fn udp_from(src: [u8; 4], payload: usize) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, [192, 0, 2, 1], 64)
        .udp(1000, 2000)
        .write(&mut out, &vec![0u8; payload])
        .unwrap();
    out
}

const OUT: Verdict = Verdict::Forward(PortId(2));

#[test]
fn a_bucket_is_burst_then_rate() {
    // 1000 packets/s, burst 2: two at once pass, the third is red; 1 ms
    // later one token is back.
    let m = module("packets", 1000, 2, "drop");
    let f = udp_from([10, 1, 1, 1], 10);
    let mut s = MeterState::new();
    let v: Vec<Verdict> = [
        1, 1, 1, 1_000_001, 1_000_001, 3_000_001, 3_000_001, 3_000_001,
    ]
    .iter()
    .map(|t| run_timed(&m, IN, &f, *t, &mut s).verdict)
    .collect();
    assert_eq!(
        v,
        [
            OUT,
            OUT,
            Verdict::Drop,
            OUT,
            Verdict::Drop,
            OUT,
            OUT,
            Verdict::Drop
        ]
    );
    // A red packet is still counted (the counter counts hits).
    let o = run_timed(&m, IN, &f, 3_000_001, &mut s);
    assert_eq!(o.counters.len(), 1);
}

#[test]
fn bytes_meters_cost_the_frame_length() {
    let m = module("bytes", 1_000_000, 1518, "pass");
    let f = udp_from([10, 1, 1, 1], 700); // 742 bytes
    assert_eq!(f.len(), 742);
    let mut s = MeterState::new();
    let at = |s: &mut MeterState, t| run_timed(&m, IN, &f, t, s).verdict;
    assert_eq!(at(&mut s, 5), OUT);
    assert_eq!(at(&mut s, 5), OUT); // 1484 ≤ 1518
    assert_eq!(at(&mut s, 5), Verdict::Pass); // red → pass
                                              // 1484 + 742 − 1518 = 708 bytes must come back: 708 µs at 10^6 bytes/s.
    assert_eq!(at(&mut s, 5 + 707_999), Verdict::Pass);
    assert_eq!(
        s.bucket(TableId(0), 0).deficit,
        1484 * NANO - 707_999 * 1_000_000
    );
    assert_eq!(at(&mut s, 5 + 708_000), OUT);
}

#[test]
fn red_continue_skips_the_action_and_entries_have_their_own_buckets() {
    let m = module("packets", 1, 1, "continue");
    let mut s = MeterState::new();
    let a = udp_from([10, 1, 1, 1], 0);
    let b = udp_from([10, 9, 1, 1], 0); // the /16 entry: burst 2
    assert_eq!(run_timed(&m, IN, &a, 9, &mut s).verdict, OUT);
    // Red: the forward does not run; the module default (pass) applies.
    let t = run_timed_traced(&m, IN, &a, 9, &mut s);
    assert_eq!(t.outcome.verdict, Verdict::Pass);
    assert_eq!(t.meters, [(TableId(0), 0, Color::Red)]);
    assert_eq!(run_timed(&m, IN, &b, 9, &mut s).verdict, OUT);
    assert_eq!(run_timed(&m, IN, &b, 9, &mut s).verdict, OUT);
    assert_eq!(run_timed(&m, IN, &b, 9, &mut s).verdict, Verdict::Pass);
    // A miss is never metered.
    let c = udp_from([11, 1, 1, 1], 0);
    for _ in 0..5 {
        let t = run_timed_traced(&m, IN, &c, 9, &mut s);
        assert_eq!((t.outcome.verdict, t.meters.len()), (OUT, 0));
    }
}

#[test]
fn run_is_one_packet_at_time_zero_with_full_buckets() {
    let m = module("packets", 1, 1, "drop");
    let f = udp_from([10, 1, 1, 1], 0);
    for _ in 0..3 {
        assert_eq!(run(&m, IN, &f).verdict, OUT);
    }
}

#[test]
fn a_clock_going_back_refills_nothing() {
    let r = MeterRate { rate: 10, burst: 1 };
    let mut b = Bucket::default();
    assert_eq!(b.offer(r, 1_000_000_000, NANO), Color::Green);
    assert_eq!(b.offer(r, 500_000_000, NANO), Color::Red);
    assert_eq!(b.last_ns, 1_000_000_000);
    // 0.1 s after the last refill: one token at 10/s.
    assert_eq!(b.offer(r, 1_100_000_000, NANO), Color::Green);
}

#[test]
fn huge_gaps_and_rates_never_overflow() {
    let max = crate::ir::MAX_METER_VALUE;
    for (rate, burst) in [(1, max), (max, max), (max, 1), (1, 1)] {
        let r = MeterRate { rate, burst };
        let mut b = Bucket::default();
        let mut now = 1u64;
        for gap in [0, 1, 1000, u64::MAX / 4, r.fill_ns(), r.fill_ns() + 1] {
            now = now.saturating_add(gap);
            b.offer(r, now, NANO);
            assert!(b.deficit <= r.capacity(), "{rate}/{burst}: {b:?}");
        }
        // Exactness at the edge: fill_ns refills capacity − fill_ns × rate < rate short.
        let mut b = Bucket {
            deficit: r.capacity(),
            last_ns: 0,
        };
        b.refill(r, r.fill_ns());
        assert_eq!(b.deficit, r.capacity() - r.fill_ns() * rate);
        b.refill(r, r.fill_ns() + 1 + r.fill_ns() + 1);
        assert_eq!(b.deficit, 0);
    }
}
