//! The P4Runtime client against the real `simple_switch_grpc`, in a network
//! namespace of the test's own (testkit_bmv2): arbitration, pipeline config,
//! batches, read-back compared canonically, counters, a second controller,
//! and what BMv2 does with each pipeline action.
//!
//! Needs root and the P4 toolchain (`simple_switch_grpc`, `p4c-bm2-ss` on
//! PATH or under OFFLOAD_P4_DIR); skips loudly otherwise.
//! Run with `--nocapture` to see the measured latencies and findings.

use offload_core::ir::{Entry, KeyMatch, Module, TableId};
use offload_drivers::lab::frames::{Ipv4Frame, UDP};
use offload_drivers::lab::packet::PacketSocket;
use offload_drivers::p4rt::tools::GrpcTools;
use offload_drivers::p4rt::translate::{self, Names};
use offload_drivers::p4rt::{Atomicity, Client, P4Info, P4rtError, PipelineAction, Update};
use offload_drivers::testenv;
use offload_drivers::testkit_bmv2::{self, GrpcSwitch, SwitchNetns};
use offload_p4::{Arch, Options};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// No checksum rewrites (the generator's checksum helper is being fixed in
/// issue 11); ternary, exact, range and lpm keys; an action with a port and
/// a MAC parameter; counters on both tables.
const MODULE: &str = r#"
[module]
name = "p4rt-test"
default = "pass"

[ports]
a = 1
b = 2

[[table]]
name = "acl"
keys = [
  { field = "ipv4.src", match = "ternary" },
  { field = "ipv4.protocol", match = "exact" },
  { field = "l4.dst_port", match = "range" },
]
actions = ["block", "allow"]
default_action = "allow"
size = 64
counters = true

[[table]]
name = "routes"
keys = [{ field = "ipv4.dst", match = "lpm" }]
actions = ["send", "block"]
default_action = "block"
size = 64
counters = true

[action.block]
do = ["drop"]

[action.allow]
do = []

[action.send]
params = { port = "port", dmac = "mac" }
do = ["set(eth.dst, dmac)", "forward(port)"]

[[entry.acl]]
match = { "ipv4.src" = "10.0.0.0/8", "ipv4.protocol" = 6, "l4.dst_port" = "22" }
priority = 20
action = "allow"

[[entry.acl]]
match = { "ipv4.protocol" = 6, "l4.dst_port" = "22..22" }
priority = 10
action = "block"

[[entry.acl]]
match = { "ipv4.protocol" = 17, "l4.dst_port" = "137..139" }
priority = 5
action = "block"

[[entry.acl]]
match = { "ipv4.src" = "192.0.2.0 &&& 255.255.255.0", "ipv4.protocol" = 17, "l4.dst_port" = "*" }
priority = 1
action = "block"

[[entry.routes]]
match = { "ipv4.dst" = "10.1.0.0/16" }
action = { send = { port = "b", dmac = "02:00:00:00:00:0b" } }

[[entry.routes]]
match = { "ipv4.dst" = "10.2.3.0/24" }
action = { send = { port = "a", dmac = "02:00:00:00:00:0a" } }

[[entry.routes]]
match = { "ipv4.dst" = "198.51.100.7" }
action = "block"
"#;

struct Setup {
    module: Module,
    names: offload_p4::NamingMap,
    json: Vec<u8>,
    p4info_bin: Vec<u8>,
    p4info: P4Info,
    dir: PathBuf,
}

fn setup(test: &str) -> Option<(GrpcTools, Setup)> {
    if !testenv::require_root(test) {
        return None;
    }
    let tools = testenv::require_p4(test, GrpcTools::find())?;
    let module = offload_core::spec::compile(MODULE).expect("test module compiles");
    let out = offload_p4::compile(&module, &Options::new(Arch::V1model)).unwrap();
    let dir = std::env::temp_dir().join(format!("offload-{test}-{}", std::process::id()));
    let (json, p4info_bin) = testkit_bmv2::compile(&tools, &out.source, &dir).unwrap();
    let p4info = P4Info::parse(&p4info_bin).unwrap();
    Some((
        tools,
        Setup {
            module,
            names: out.names,
            json,
            p4info_bin,
            p4info,
            dir,
        },
    ))
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    fn n(&self) -> Names<'_> {
        Names {
            module: &self.module,
            names: &self.names,
            p4info: &self.p4info,
        }
    }

    /// The module's entries, canonical and sorted.
    fn desired(&self) -> Vec<(TableId, String)> {
        let mut v: Vec<(TableId, String)> = self
            .module
            .tables
            .iter()
            .flat_map(|t| {
                t.entries
                    .iter()
                    .map(move |e| (t.id, format!("{:?}", translate::canonical(t, e))))
            })
            .collect();
        v.sort();
        v
    }

    /// What the switch holds, translated back, canonical and sorted.
    fn observed(&self, c: &mut Client) -> Vec<(TableId, String)> {
        let mut v: Vec<(TableId, String)> = c
            .read_table_entries(0, false)
            .unwrap()
            .iter()
            .map(|te| {
                let (t, e) = translate::entry_from_p4rt(&self.n(), te)
                    .unwrap_or_else(|err| panic!("{err}\n{te:?}"));
                (t, format!("{e:?}"))
            })
            .collect();
        v.sort();
        v
    }
}

fn ms(t: Instant) -> String {
    format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3)
}

fn frame(dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    Ipv4Frame {
        dst_mac: [2, 0, 0, 0, 0, 0xee],
        src_mac: [2, 0, 0, 0, 0, 0x01],
        src: Ipv4Addr::new(172, 16, 0, 1),
        dst,
        ttl: 64,
        proto: UDP,
        sport: 40000,
        dport,
        payload: b"offload-p4rt".to_vec(),
    }
    .emit()
}

#[test]
fn p4runtime_against_simple_switch_grpc() {
    let test = "p4runtime_against_simple_switch_grpc";
    let Some((tools, s)) = setup(test) else {
        return;
    };
    let ns = SwitchNetns::new(2).unwrap();
    let ports: Vec<(u32, String)> =
        vec![(1, ns.veths()[0].0.clone()), (2, ns.veths()[1].0.clone())];
    let sw = GrpcSwitch::start(&tools, Some(ns.name()), &ports, 3, &s.dir).unwrap();

    let t = Instant::now();
    let mut c = sw.connect(10, TIMEOUT).unwrap();
    eprintln!("connect + arbitration: {}", ms(t));
    assert!(c.is_primary());
    assert_eq!(c.pipeline_cookie().unwrap(), None, "no pipeline yet");
    assert_eq!(c.pipeline().unwrap(), None);

    let t = Instant::now();
    c.set_pipeline(
        PipelineAction::VerifyAndCommit,
        &s.p4info_bin,
        &s.json,
        0xc0ffee,
    )
    .unwrap();
    eprintln!(
        "set_pipeline VERIFY_AND_COMMIT ({} B JSON, {} B P4Info): {}",
        s.json.len(),
        s.p4info_bin.len(),
        ms(t)
    );
    assert_eq!(c.pipeline_cookie().unwrap(), Some(0xc0ffee));
    let (info_back, cookie) = c.pipeline().unwrap().expect("a pipeline is set");
    assert_eq!(cookie, 0xc0ffee);
    assert_eq!(
        P4Info::parse(&info_back).unwrap(),
        s.p4info,
        "P4Info read back differs"
    );

    // p4c's names are the naming map's: every table, key, action resolves.
    let updates = translate::module_updates(&s.n()).unwrap();

    // ROLLBACK_ON_ERROR as such.
    let t = Instant::now();
    match c.write(updates.clone(), Atomicity::RollbackOnError) {
        Ok(()) => eprintln!("FINDING: ROLLBACK_ON_ERROR accepted ({})", ms(t)),
        Err(e) => eprintln!("FINDING: ROLLBACK_ON_ERROR refused: {e}"),
    }
    let rollback_supported = !s.observed(&mut c).is_empty();
    if !rollback_supported {
        let t = Instant::now();
        c.write_all_or_none(updates.clone()).unwrap();
        eprintln!(
            "write_all_or_none of {} updates (fallback): {}",
            updates.len(),
            ms(t)
        );
    }
    let t = Instant::now();
    let observed = s.observed(&mut c);
    eprintln!("read all entries ({}): {}", observed.len(), ms(t));
    assert_eq!(observed, s.desired());
    for tbl in &s.module.tables {
        let id = translate::table_id(&s.n(), tbl.id).unwrap();
        let d = c.read_default_entry(id).unwrap().expect("default entry");
        assert_eq!(
            translate::default_from_p4rt(&s.n(), &d).unwrap(),
            (tbl.id, tbl.default_action.clone())
        );
    }

    // A batch whose second update is bad (a duplicate): nothing of it stays.
    let routes = s.module.table_by_name("routes").unwrap();
    let new_route = Entry {
        matches: vec![KeyMatch::Lpm {
            value: 0x0a05_0000,
            prefix_len: 16,
        }],
        ..routes.entries[2].clone()
    };
    let bad_batch = vec![
        Update::insert(translate::table_entry(&s.n(), routes.id, &new_route).unwrap()),
        Update::insert(translate::table_entry(&s.n(), routes.id, &routes.entries[0]).unwrap()),
    ];
    let err = c.write_all_or_none(bad_batch.clone()).unwrap_err();
    eprintln!("FINDING: all-or-none with a duplicate: {err}");
    let P4rtError::Write { per_update, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(per_update.len(), 1, "{err}");
    assert_eq!(per_update[0].index, 1, "{err}");
    assert_eq!(
        s.observed(&mut c),
        s.desired(),
        "the good update was not undone"
    );
    // The same batch with ROLLBACK_ON_ERROR, and with CONTINUE_ON_ERROR.
    let r = c.write(bad_batch.clone(), Atomicity::RollbackOnError);
    let left = s.observed(&mut c).len() - s.desired().len();
    eprintln!(
        "FINDING: ROLLBACK_ON_ERROR with a duplicate: {}; entries left over: {left}",
        r.as_ref()
            .map(|_| "ok".to_string())
            .unwrap_or_else(|e| e.to_string())
    );
    if left > 0 {
        c.write(
            vec![Update::delete(
                translate::table_entry(&s.n(), routes.id, &new_route).unwrap(),
            )],
            Atomicity::ContinueOnError,
        )
        .unwrap();
    }
    let r = c.write(bad_batch, Atomicity::ContinueOnError);
    let left = s.observed(&mut c).len() - s.desired().len();
    eprintln!(
        "FINDING: CONTINUE_ON_ERROR with a duplicate: {}; entries left over: {left}",
        r.as_ref()
            .map(|_| "ok".to_string())
            .unwrap_or_else(|e| e.to_string())
    );
    assert_eq!(left, 1, "CONTINUE_ON_ERROR applies the good update");
    c.write(
        vec![Update::delete(
            translate::table_entry(&s.n(), routes.id, &new_route).unwrap(),
        )],
        Atomicity::ContinueOnError,
    )
    .unwrap();
    assert_eq!(s.observed(&mut c), s.desired());

    // All-or-none undoes MODIFY and DELETE too: change one route, delete
    // another, then fail on a duplicate; the table is as before.
    let mut changed = routes.entries[0].clone();
    changed.action = routes.entries[2].action.clone();
    let mixed = vec![
        Update::modify(translate::table_entry(&s.n(), routes.id, &changed).unwrap()),
        Update::delete(translate::table_entry(&s.n(), routes.id, &routes.entries[1]).unwrap()),
        Update::insert(translate::table_entry(&s.n(), routes.id, &routes.entries[2]).unwrap()),
    ];
    let err = c.write_all_or_none(mixed).unwrap_err();
    assert!(
        matches!(&err, P4rtError::Write { per_update, .. } if per_update.len() == 1 && per_update[0].index == 2),
        "{err}"
    );
    assert_eq!(s.observed(&mut c), s.desired(), "MODIFY/DELETE not undone");

    // Counters: one packet hits 10.1.0.0/16, one misses every route.
    let tx = PacketSocket::open_in(ns.name(), &ns.veths()[0].1).unwrap();
    let hit = frame(Ipv4Addr::new(10, 1, 2, 3), 9999);
    let miss = frame(Ipv4Addr::new(172, 31, 0, 1), 9999);
    tx.send(&hit).unwrap();
    tx.send(&miss).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let routes_id = translate::table_id(&s.n(), routes.id).unwrap();
    let miss_id = translate::miss_counter_id(&s.n(), routes.id).unwrap();
    let mut last = (0, 0);
    while Instant::now() < deadline {
        last = c.read_counter(miss_id, 0).unwrap();
        if last.1 >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    let miss_count = c.read_counter(miss_id, 0).unwrap();
    eprintln!("read_counter: {}", ms(t));
    assert_eq!(
        miss_count,
        (miss.len() as u64, 1),
        "routes miss counter (last {last:?})"
    );
    let t = Instant::now();
    let with_counters = c.read_table_entries(routes_id, true).unwrap();
    eprintln!("read routes with counters: {}", ms(t));
    let hit_te = translate::table_entry(&s.n(), routes.id, &routes.entries[0]).unwrap();
    let counted: Vec<String> = with_counters
        .iter()
        .map(|te| format!("{:?} {:?}", te.r#match, te.counter_data))
        .collect();
    let mine = with_counters
        .iter()
        .find(|te| te.r#match == hit_te.r#match)
        .expect("the route is there");
    assert_eq!(
        mine.counter_data.map(|d| (d.byte_count, d.packet_count)),
        Some((hit.len() as i64, 1)),
        "{counted:?}"
    );
    assert_eq!(
        c.read_direct_counter(&hit_te).unwrap(),
        (hit.len() as u64, 1)
    );
    let other = translate::table_entry(&s.n(), routes.id, &routes.entries[1]).unwrap();
    assert_eq!(c.read_direct_counter(&other).unwrap(), (0, 0));

    // A second controller with a lower election id is a backup, refused.
    let err = sw.connect(5, TIMEOUT).unwrap_err();
    assert!(
        matches!(
            err,
            P4rtError::NotPrimary {
                election_id: 5,
                primary: 10,
                ..
            }
        ),
        "{err}"
    );
    eprintln!("second client: {err}");
    // A batch of N inserts and its delete, for the latency figures.
    let n = 50u32;
    let many: Vec<Update> = (0..n)
        .map(|i| {
            let e = Entry {
                matches: vec![KeyMatch::Lpm {
                    value: 0x0b00_0000 | (u128::from(i) << 8),
                    prefix_len: 24,
                }],
                ..routes.entries[2].clone()
            };
            Update::insert(translate::table_entry(&s.n(), routes.id, &e).unwrap())
        })
        .collect();
    let t = Instant::now();
    c.write(many.clone(), Atomicity::ContinueOnError).unwrap();
    eprintln!("write of {n} inserts: {}", ms(t));
    let t = Instant::now();
    let all = c.read_table_entries(routes_id, false).unwrap();
    eprintln!("read of {} entries: {}", all.len(), ms(t));
    let deletes: Vec<Update> = many
        .into_iter()
        .map(|u| Update {
            r#type: offload_drivers::p4rt::UpdateType::Delete as i32,
            ..u
        })
        .collect();
    c.write(deletes, Atomicity::ContinueOnError).unwrap();
    assert_eq!(s.observed(&mut c), s.desired());
    drop(c);
    sw.stop().unwrap();
}

/// What simple_switch_grpc does with VERIFY, VERIFY_AND_SAVE + COMMIT and
/// RECONCILE_AND_COMMIT: cookie and table entries after each.
#[test]
fn pipeline_actions_on_simple_switch_grpc() {
    let test = "pipeline_actions_on_simple_switch_grpc";
    let Some((tools, s)) = setup(test) else {
        return;
    };
    let ns = SwitchNetns::new(1).unwrap();
    let ports = vec![(1, ns.veths()[0].0.clone())];
    let sw = GrpcSwitch::start(&tools, Some(ns.name()), &ports, 1, &s.dir).unwrap();
    let mut c = sw.connect(1, TIMEOUT).unwrap();
    let state = |c: &mut Client, what: &str| {
        let cookie = c.pipeline_cookie().unwrap();
        let n = c.read_table_entries(0, false).map(|v| v.len());
        eprintln!("FINDING: after {what}: cookie {cookie:?}, entries {n:?}");
        (cookie, n.ok())
    };
    c.set_pipeline(PipelineAction::VerifyAndCommit, &s.p4info_bin, &s.json, 1)
        .unwrap();
    c.write_all_or_none(translate::module_updates(&s.n()).unwrap())
        .unwrap();
    let total = s.desired().len();
    assert_eq!(
        state(&mut c, "VERIFY_AND_COMMIT + entries"),
        (Some(1), Some(total))
    );

    let r = c.set_pipeline(PipelineAction::Verify, &s.p4info_bin, &s.json, 2);
    eprintln!("FINDING: VERIFY: {r:?}");
    let after_verify = state(&mut c, "VERIFY (cookie 2)");

    let r = c.set_pipeline(PipelineAction::VerifyAndSave, &s.p4info_bin, &s.json, 3);
    eprintln!("FINDING: VERIFY_AND_SAVE: {r:?}");
    let after_save = state(&mut c, "VERIFY_AND_SAVE (cookie 3)");
    let r = c.set_pipeline(PipelineAction::Commit, &[], &[], 4);
    eprintln!("FINDING: COMMIT: {r:?}");
    let after_commit = state(&mut c, "COMMIT (cookie 4, empty config)");

    // Entries back, then RECONCILE_AND_COMMIT with the same program.
    if c.read_table_entries(0, false).map(|v| v.len()).unwrap_or(0) == 0 {
        c.write_all_or_none(translate::module_updates(&s.n()).unwrap())
            .unwrap();
    }
    let r = c.set_pipeline(
        PipelineAction::ReconcileAndCommit,
        &s.p4info_bin,
        &s.json,
        5,
    );
    eprintln!("FINDING: RECONCILE_AND_COMMIT: {r:?}");
    let after_reconcile = state(&mut c, "RECONCILE_AND_COMMIT (cookie 5)");
    if after_reconcile.1 == Some(total) {
        assert_eq!(s.observed(&mut c), s.desired(), "entries kept unchanged");
    }
    // COMMIT with nothing saved.
    let r = c.set_pipeline(PipelineAction::Commit, &[], &[], 6);
    eprintln!("FINDING: COMMIT without a saved config: {r:?}");
    let _ = state(&mut c, "COMMIT without a saved config (cookie 6)");
    eprintln!("{after_verify:?} {after_save:?} {after_commit:?} {after_reconcile:?}");
    drop(c);
    sw.stop().unwrap();
}

/// The namespace and its veths exist while the guard lives and are gone
/// after it is dropped, also when the test panics; a switch that dies at
/// start-up is reported with its log.
#[test]
fn testkit_cleans_up() {
    let test = "testkit_cleans_up";
    if !testenv::require_root(test) {
        return;
    }
    let exists = |ns: &str| {
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(ns))
            })
            .unwrap_or(false)
    };
    let name = {
        let ns = SwitchNetns::new(2).unwrap();
        assert!(exists(ns.name()));
        for (a, b) in ns.veths() {
            assert!(a.len() <= 15 && b.len() <= 15, "{a} {b}");
        }
        let links = std::process::Command::new("ip")
            .args(["-n", ns.name(), "-o", "link"])
            .output()
            .unwrap();
        let links = String::from_utf8_lossy(&links.stdout).into_owned();
        assert!(links.contains(&ns.veths()[1].1), "{links}");
        ns.name().to_string()
    };
    assert!(!exists(&name), "netns {name} left behind");
    let name = std::panic::catch_unwind(|| {
        let ns = SwitchNetns::new(1).unwrap();
        let name = ns.name().to_string();
        std::panic::panic_any(name);
    })
    .unwrap_err()
    .downcast::<String>()
    .unwrap();
    assert!(!exists(&name), "netns {name} left behind after a panic");

    let dir = std::env::temp_dir().join(format!("offload-{test}-{}", std::process::id()));
    let fake = GrpcTools {
        switch: PathBuf::from("/bin/false"),
        p4c: PathBuf::from("/bin/false"),
    };
    let ns = SwitchNetns::new(1).unwrap();
    let err = GrpcSwitch::start(&fake, Some(ns.name()), &[], 1, &dir).unwrap_err();
    assert!(
        matches!(err, testkit_bmv2::TestkitError::SwitchDied { .. }),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
