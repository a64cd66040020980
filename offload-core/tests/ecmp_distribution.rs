//! How examples/l3-router-ecmp.toml spreads flows over a group's next hops,
//! by the reference interpreter (every target computes the same bucket, see
//! the differential tests): random TCP and UDP flows to each group's
//! prefix, counted per bucket and per member. Prints the figures the README
//! quotes; asserts each bucket is within 5% of its share (about 4 standard
//! deviations at these counts) and that a flow always takes the same path.

use offload_core::ir::PortId;
use offload_core::semantics::{self, Verdict};
use std::collections::BTreeMap;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Ethernet + IPv4 (no options, checksum 0) + TCP or UDP with these ports.
fn frame(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xee, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
    let l4 = if proto == 6 { 20 } else { 8 };
    let total = (20 + l4) as u16;
    f.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        proto,
        0,
        0,
    ]);
    f.extend(src);
    f.extend(dst);
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    if proto == 6 {
        f.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        f.extend([0, 8, 0, 0]);
    }
    f
}

#[test]
fn flows_spread_over_the_members_as_the_buckets_say() {
    let m = offload_core::spec::compile(include_str!("../../examples/l3-router-ecmp.toml"))
        .expect("example compiles");
    let ecmp = m.table_by_name("ecmp").unwrap();
    let key = ecmp.hash_key().unwrap().clone();
    const FLOWS: usize = 100_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut report = String::new();
    for (group, dst_base, members) in [(1u128, [10u8, 0, 0, 0], 3usize), (2, [192, 168, 0, 0], 2)] {
        let mut buckets = vec![0usize; key.buckets as usize];
        let mut ports: BTreeMap<u16, usize> = BTreeMap::new();
        for i in 0..FLOWS {
            let r = rng.next();
            let src = [
                172,
                16 + (r >> 60) as u8 % 16,
                (r >> 8) as u8,
                (r >> 16) as u8,
            ];
            let dst = [
                dst_base[0],
                if group == 1 { (r >> 24) as u8 } else { 168 },
                (r >> 32) as u8 | (u8::from(group == 2) * 2), // never 192.168.1.x (to_host)
                (r >> 40) as u8,
            ];
            let proto = if i % 3 == 0 { 17 } else { 6 };
            let (sport, dport) = ((r >> 48) as u16 | 1024, [80u16, 443, 53, 8080][i % 4]);
            let pkt = frame(src, dst, proto, sport, dport);
            let p = semantics::parse(&pkt);
            let b = semantics::bucket(&p, &pkt, &key);
            buckets[b as usize] += 1;
            let out = semantics::run(&m, PortId(1), &pkt);
            let Verdict::Forward(port) = out.verdict else {
                panic!("flow {i}: {:?}", out.verdict)
            };
            // Bucket b runs member b mod n, so the port follows from it.
            assert_eq!(port.0 as usize, 2 + b as usize % members, "flow {i}");
            *ports.entry(port.0).or_default() += 1;
            // The same flow again: the same path.
            assert_eq!(semantics::run(&m, PortId(1), &pkt).verdict, out.verdict);
        }
        let share = FLOWS as f64 / f64::from(key.buckets);
        let worst = buckets
            .iter()
            .map(|&n| (n as f64 - share).abs() / share)
            .fold(0.0, f64::max);
        report.push_str(&format!(
            "group {group} ({members} members, {} buckets), {FLOWS} flows: buckets min {} max {} (worst {:.2}% off {share:.0}); members {}\n",
            key.buckets,
            buckets.iter().min().unwrap(),
            buckets.iter().max().unwrap(),
            worst * 100.0,
            ports
                .iter()
                .map(|(p, n)| format!(
                    "port {p}: {n} ({:.2}%, buckets say {:.2}%)",
                    100.0 * *n as f64 / FLOWS as f64,
                    100.0 * (0..key.buckets).filter(|b| 2 + *b as usize % members == *p as usize).count() as f64
                        / f64::from(key.buckets)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        assert!(worst < 0.05, "{report}");
    }
    eprint!("{report}");
}
