//! `entries load` / `entries add` / `apply` stay linear in the number of
//! entries (issue 15: a load of 20,000 routes took 25.7 s, quadratic).
//!
//! The pure steps of those commands — reading an entries file, validating
//! the new entries against the table, choosing counter slots, matching the
//! runtime entries a new version keeps and the recorded slots and counters
//! (apply's `desired_entries`, `given_entries`, `carry_counters`), encoding the map image, the state record — run at N and 16N entries. Each step is measured
//! by what it allocates (bytes and allocations, counted by this binary's
//! allocator: exact and machine-independent) and by its time in
//! the same run. Linear steps grow ~16x; a step that copies or scans the
//! table once per entry grows 256x. The bounds (32x for allocations, 96x
//! for time: caches and a shared machine) leave room for hash-table growth
//! and noise, and none for that.

use offload_core::ir::Module;
use offload_drivers::deploy::state::{Placement, State, TableState};
use offload_drivers::deploy::{apply, runtime};
use offload_drivers::entries::parse;
use offload_drivers::entries::record::EntryRecord;
use offload_drivers::load::Mode;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

struct Counting;

// Process-wide (the entries file is read on every CPU); this binary has
// one test, so nothing else allocates meanwhile.
static BYTES: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        BYTES.fetch_add(l.size() as u64, Relaxed);
        COUNT.fetch_add(1, Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        BYTES.fetch_add(new as u64, Relaxed);
        COUNT.fetch_add(1, Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What `f` allocated (bytes, allocations) and its time (s).
fn cost<T>(f: impl FnOnce() -> T) -> ((u64, u64, f64), T) {
    let (b0, c0) = (BYTES.load(Relaxed), COUNT.load(Relaxed));
    let t0 = Instant::now();
    let r = f();
    let t = t0.elapsed().as_secs_f64();
    let (b1, c1) = (BYTES.load(Relaxed), COUNT.load(Relaxed));
    ((b1 - b0, c1 - c0, t), r)
}

fn module_src() -> String {
    include_str!("../../examples/edge-router.toml").replace("size = 65536", "size = 1000000")
}

fn routes(first: usize, n: usize) -> String {
    let mut s = String::new();
    for i in first..first + n {
        let a = 0x0b00_0000u32 + (i as u32) * 256;
        s.push_str(&format!(
            "[[entry.routes]]\nmatch = {{ \"ipv4.dst\" = \"{}/24\" }}\naction = \"deny\"\n",
            std::net::Ipv4Addr::from(a)
        ));
    }
    s
}

/// A deployed state holding `n` runtime routes (as `entries load` leaves it).
fn state_with(m: &Module, src: &str, n: usize) -> State {
    let es = parse::file(m, "old.toml", &routes(0, n)).unwrap();
    let t = m.table_by_name("routes").unwrap();
    let mut entries: Vec<EntryRecord> = t
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| EntryRecord::from_entry(e, i as u32))
        .collect();
    let base = entries.len() as u32;
    entries.extend(es.iter().enumerate().map(|(i, (_, e))| {
        let mut r = EntryRecord::from_entry(e, base + i as u32);
        r.runtime = true;
        r
    }));
    State {
        module: m.name.clone(),
        source: src.into(),
        source_path: None,
        version: 1,
        ports: BTreeMap::new(),
        placements: vec![Placement {
            iface: "x".into(),
            ifindex: 1,
            mode: Mode::Generic,
            gen: 1,
            prog_id: 1,
            prog_tag: String::new(),
            link_id: 1,
            fallbacks: vec![],
            profile: "kernel".into(),
            room: BTreeMap::new(),
        }],
        tables: [(
            "routes".to_string(),
            TableState {
                entries,
                base: BTreeMap::new(),
            },
        )]
        .into(),
        pending: None,
    }
}

/// Costs of each step with `n` routes deployed and `n` more loaded.
fn steps(n: usize) -> Vec<(&'static str, (u64, u64, f64))> {
    let src = module_src();
    let m = offload_core::spec::compile(&src).unwrap();
    let st = state_with(&m, &src, n);
    let text = routes(n, n);
    let mut out = Vec::new();
    let (c, new) = cost(|| parse::file(&m, "new.toml", &text).unwrap());
    out.push(("read entries file", c));
    let (c, (lists, _)) = cost(|| runtime::plan_add(&m, &st, &new).unwrap());
    out.push(("validate + slots", c));
    assert_eq!(lists["routes"].len(), 2 * n + 3);
    let given: BTreeMap<String, Vec<offload_core::ir::Entry>> = lists
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|(e, _, _)| e.clone()).collect()))
        .collect();
    let (c, kept) = cost(|| apply::desired_entries(&m, Some(&st)));
    out.push(("apply: keep runtime entries", c));
    assert_eq!(kept["routes"].len(), n + 3);
    let (c, placed) = cost(|| apply::given_entries(&m, Some(&st), &given));
    out.push(("apply: match recorded slots", c));
    assert_eq!(placed["routes"].len(), 2 * n + 3);
    // A re-apply carries the old version's counters to the same entries
    // (no maps under these roots: only the matching is measured).
    let nowhere = offload_drivers::deploy::Roots {
        bpffs: "/nonexistent/offload-scale".into(),
        state: "/nonexistent/offload-scale".into(),
    };
    let t = m.table_by_name("routes").unwrap();
    let mut ts = TableState::default();
    let (c, ()) = cost(|| {
        apply::carry_counters(
            &offload_drivers::sys::Kernel,
            &nowhere,
            &st,
            t,
            &placed["routes"],
            &mut ts,
        )
    });
    out.push(("apply: carry counters", c));
    let c = offload_ebpf::codegen::compile(&m, &offload_ebpf::codegen::Target::xdp()).unwrap();
    let t = m.table_by_name("routes").unwrap();
    let with_slots: Vec<_> = placed["routes"]
        .iter()
        .map(|(e, s, _)| (e.clone(), *s))
        .collect();
    let (cst, img) = cost(|| {
        offload_drivers::entries::write::image(c.layout.table(t.id), t, &with_slots).unwrap()
    });
    out.push(("map image", cst));
    assert_eq!(img.entries.len(), 2 * n + 3);
    let (c, json) = cost(|| serde_json::to_string(&st).unwrap());
    out.push(("state record save", c));
    let (c, back) = cost(|| serde_json::from_str::<State>(&json).unwrap());
    out.push(("state record read", c));
    assert_eq!(back.tables["routes"].entries.len(), n + 3);
    out
}

#[test]
fn entry_steps_grow_linearly() {
    let n = 1_000;
    let small = steps(n);
    let large = steps(16 * n);
    let mut bad = Vec::new();
    for ((name, a), (_, b)) in small.iter().zip(&large) {
        let bytes = b.0 as f64 / a.0.max(1) as f64;
        let allocs = b.1 as f64 / a.1.max(1) as f64;
        let time = b.2 / a.2.max(1e-6);
        eprintln!(
            "{name:<28} {n} → {}: bytes x{bytes:.1}, allocations x{allocs:.1}, time x{time:.1}",
            16 * n
        );
        if bytes > 32.0 || allocs > 32.0 || time > 96.0 {
            bad.push(format!(
                "{name}: bytes x{bytes:.1}, allocations x{allocs:.1}, time x{time:.1}"
            ));
        }
    }
    assert!(bad.is_empty(), "not linear for 16x the entries: {bad:?}");
}
