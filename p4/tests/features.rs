//! Every IR feature either generates, on each architecture, a program that
//! passes the sanity check and contains the construct that implements it,
//! or fails with a named reason.

use offload_core::ir;
use offload_p4::{compile, sanity, Arch, Options, P4Error};

/// A one-table module: `keys` TOML, the action under test (`act`, used by
/// one entry `entry`) and a parameterless default.
fn module(keys: &str, params: &str, body: &str, entry: &str) -> ir::Module {
    let src = format!(
        r#"
[module]
name = "feature"
default = "pass"

[ports]
uplink = 1
servers = 2

[[table]]
name = "t"
keys = {keys}
actions = ["act", "nop"]
default_action = "nop"
size = 16
counters = true

[action.act]
params = {{ {params} }}
do = {body}

[action.nop]
do = []

{entry}
"#
    );
    offload_core::spec::compile(&src)
        .unwrap_or_else(|d| panic!("test module does not compile: {d:?}\n{src}"))
}

const MAC_KEY: &str = r#"[{ field = "eth.dst", match = "exact" }]"#;

fn mac_entry(action: &str) -> String {
    format!("[[entry.t]]\nmatch = {{ \"eth.dst\" = \"02:00:00:00:00:01\" }}\naction = {action}\n")
}

fn generate(m: &ir::Module, arch: Arch) -> offload_p4::Output {
    let out = compile(m, &Options::new(arch)).unwrap_or_else(|e| panic!("{arch}: {e}"));
    if let Err(p) = sanity::check(&out.source, arch) {
        panic!(
            "{arch}: sanity check failed:\n{}\n{}",
            p.join("\n"),
            out.source
        );
    }
    out
}

/// (feature, params, do, action in the entry, text v1model must contain, text TNA must contain)
const PRIMITIVES: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("drop", "", r#"["drop"]"#, r#""act""#, "mark_to_drop(standard_metadata);", "ig_dprsr_md.drop_ctl = 3w1;"),
    ("pass", "", r#"["pass"]"#, r#""act""#, "standard_metadata.egress_spec = CPU_PORT;", "ig_tm_md.ucast_egress_port = CPU_PORT;"),
    ("tx", "", r#"["tx"]"#, r#""act""#, "egress_spec = standard_metadata.ingress_port;", "ucast_egress_port = ig_intr_md.ingress_port;"),
    ("forward(port name)", "", r#"["forward(servers)"]"#, r#""act""#, "meta.out_port = PORT_SERVERS;", "meta.out_port = PORT_SERVERS;"),
    ("forward(param)", r#"p = "port""#, r#"["forward(p)"]"#, r#"{ act = { p = "servers" } }"#, "meta.out_port = p;", "meta.out_port = p;"),
    ("set(eth.dst)", r#"m = "mac""#, r#"["set(eth.dst, m)"]"#, r#"{ act = { m = "02:00:00:00:00:09" } }"#, "hdr.eth.dst = m;", "hdr.eth.dst = m;"),
    ("set(eth.src, literal)", "", r#"["set(eth.src, 02:00:00:00:00:07)"]"#, r#""act""#, "hdr.eth.src = 48w2199023255559;", "hdr.eth.src = 48w2199023255559;"),
    ("set(vlan.vid)", r#"v = "u12""#, r#"["set(vlan.vid, v)"]"#, r#"{ act = { v = 7 } }"#, "hdr.vlan.vid = v;", "hdr.vlan.vid = v;"),
    ("set(vlan.pcp)", r#"v = "u3""#, r#"["set(vlan.pcp, v)"]"#, r#"{ act = { v = 5 } }"#, "hdr.vlan.pcp = v;", "hdr.vlan.pcp = v;"),
    ("set(ipv4.src)", r#"a = "ipv4""#, r#"["set(ipv4.src, a)"]"#, r#"{ act = { a = "10.0.0.1" } }"#,
        "meta.a4_sum = meta.a4_sum + ((meta.old32[31:16] == hdr.ipv4.src[31:16]) ? 32w0 : ((bit<32>)~meta.old32[31:16] + (bit<32>)hdr.ipv4.src[31:16]));", "ipv4_checksum.update("),
    ("set(ipv4.dst)", r#"a = "ipv4""#, r#"["set(ipv4.dst, a)"]"#, r#"{ act = { a = "10.0.0.2" } }"#,
        "meta.a4_sum = meta.a4_sum + ((meta.old32[15:0] == hdr.ipv4.dst[15:0]) ? 32w0 : ((bit<32>)~meta.old32[15:0] + (bit<32>)hdr.ipv4.dst[15:0]));", "l4_checksum.subtract_all_and_deposit(meta.l4_residual);"),
    ("set(ipv4.ttl)", r#"v = "u8""#, r#"["set(ipv4.ttl, v)"]"#, r#"{ act = { v = 9 } }"#, "meta.old16 = hdr.ipv4.ttl ++ hdr.ipv4.protocol;", "meta.ipv4_csum_dirty = 1w1;"),
    ("set(ipv4.dscp)", r#"v = "u6""#, r#"["set(ipv4.dscp, v)"]"#, r#"{ act = { v = 46 } }"#, "hdr.ipv4.version ++ hdr.ipv4.ihl ++ hdr.ipv4.dscp ++ hdr.ipv4.ecn", "meta.ipv4_csum_dirty = 1w1;"),
    ("set(ipv6.src)", r#"a = "ipv6""#, r#"["set(ipv6.src, a)"]"#, r#"{ act = { a = "2001:db8::1" } }"#, "meta.old128[127:112]", "l4_checksum.subtract({ hdr.ipv6.src, hdr.ipv6.dst });"),
    ("set(ipv6.dst)", r#"a = "ipv6""#, r#"["set(ipv6.dst, a)"]"#, r#"{ act = { a = "2001:db8::2" } }"#, "meta.a6_sum = meta.a6_sum + ((meta.old128[15:0] == hdr.ipv6.dst[15:0]) ? 32w0 : ((bit<32>)~meta.old128[15:0] + (bit<32>)hdr.ipv6.dst[15:0]));", "meta.csum_udp_ipv6 = 1w1;"),
    ("set(ipv6.hop_limit)", r#"v = "u8""#, r#"["set(ipv6.hop_limit, v)"]"#, r#"{ act = { v = 64 } }"#, "hdr.ipv6.hop_limit = v;", "hdr.ipv6.hop_limit = v;"),
    ("set(l4.src_port)", r#"v = "u16""#, r#"["set(l4.src_port, v)"]"#, r#"{ act = { v = 53 } }"#, "meta.l4_sum = meta.l4_sum + ((meta.old16 == meta.l4_src_port) ? 32w0 : ((bit<32>)~meta.old16 + (bit<32>)meta.l4_src_port));", "meta.l4_csum_dirty = 1w1;"),
    ("set(l4.dst_port)", r#"v = "u16""#, r#"["set(l4.dst_port, v)"]"#, r#"{ act = { v = 80 } }"#, "hdr.udp.checksum = (hdr.udp.checksum == 16w0) ? 16w0 : ((meta.csum == 16w0) ? 16w0xffff : meta.csum);", "l4_checksum.update({ hdr.ipv4.src, hdr.ipv4.dst, hdr.udp.src_port, hdr.udp.dst_port, meta.l4_residual }, true)"),
    ("dec_ttl", "", r#"["dec_ttl"]"#, r#""act""#, "if (hdr.ipv4.ttl <= 8w1) {", "if (hdr.ipv4.ttl <= 8w1) {"),
    ("dec_ttl then set and forward", r#"p = "port", m = "mac""#, r#"["dec_ttl", "set(eth.dst, m)", "forward(p)"]"#, r#"{ act = { p = 2, m = "02:00:00:00:00:02" } }"#,
        "hdr.eth.dst = meta.arg_act_m;", "hdr.eth.dst = meta.arg_act_m;"),
    ("push_vlan(param)", r#"v = "u12""#, r#"["push_vlan(v)"]"#, r#"{ act = { v = 100 } }"#, "hdr.vlan.vid = meta.arg_act_v;", "hdr.vlan.vid = meta.arg_act_v;"),
    ("push_vlan(literal)", "", r#"["push_vlan(4095)"]"#, r#""act""#, "hdr.vlan.vid = 12w4095;", "hdr.vlan.vid = 12w4095;"),
    ("pop_vlan", "", r#"["pop_vlan"]"#, r#""act""#, "hdr.vlan = hdr.vlan_inner;", "hdr.vlan = hdr.vlan_inner;"),
    ("pop_vlan then push_vlan", "", r#"["pop_vlan", "push_vlan(3)"]"#, r#""act""#, "hdr.vlan_inner = hdr.vlan;", "hdr.vlan_inner = hdr.vlan;"),
];

#[test]
fn every_primitive_generates_on_every_architecture() {
    for (feature, params, body, call, v1, tna) in PRIMITIVES {
        let m = module(MAC_KEY, params, body, &mac_entry(call));
        for (arch, want) in [(Arch::V1model, v1), (Arch::Tna, tna)] {
            let out = generate(&m, arch);
            assert!(
                out.source.contains(want),
                "{feature} on {arch}: expected `{want}` in\n{}",
                out.source
            );
            let table = &out.names.table("t").unwrap().runtime;
            assert!(
                out.cli.contains(&format!("table_add {table} ")),
                "{feature} on {arch}: {}",
                out.cli
            );
        }
    }
}

/// (field, kind, match value in an entry, CLI text for it)
const KEYS: &[(&str, &str, &str, &str)] = &[
    ("meta.in_port", "exact", "\"uplink\"", " 1 =>"),
    (
        "eth.dst",
        "ternary",
        "\"02:00:00:00:00:00 &&& ff:ff:ff:00:00:00\"",
        " 02:00:00:00:00:00&&&ff:ff:ff:00:00:00 =>",
    ),
    (
        "eth.src",
        "exact",
        "\"02:00:00:00:00:01\"",
        " 02:00:00:00:00:01 =>",
    ),
    ("eth.type", "exact", "\"0x0800\"", " 2048 =>"),
    ("vlan.vid", "range", "\"10..20\"", " 10->20 =>"),
    ("vlan.pcp", "exact", "5", " 5 =>"),
    ("ipv4.src", "lpm", "\"10.0.0.0/8\"", " 10.0.0.0/8 =>"),
    (
        "ipv4.dst",
        "ternary",
        "\"192.0.2.0/24\"",
        " 192.0.2.0&&&255.255.255.0 =>",
    ),
    ("ipv4.protocol", "exact", "6", " 6 =>"),
    ("ipv4.ttl", "range", "\"0..1\"", " 0->1 =>"),
    ("ipv4.dscp", "ternary", "\"46\"", " 0x2e&&&0x3f =>"),
    (
        "ipv6.src",
        "lpm",
        "\"2001:db8::/32\"",
        " 0x20010db8000000000000000000000000/32 =>",
    ),
    (
        "ipv6.dst",
        "exact",
        "\"2001:db8::1\"",
        " 0x20010db8000000000000000000000001 =>",
    ),
    ("ipv6.next_header", "exact", "58", " 58 =>"),
    ("ipv6.hop_limit", "range", "\"0..1\"", " 0->1 =>"),
    ("l4.src_port", "range", "\"0..1023\"", " 0->1023 =>"),
    ("l4.dst_port", "exact", "443", " 443 =>"),
    (
        "tcp.flags",
        "ternary",
        "\"0x02 &&& 0x12\"",
        " 0x2&&&0x12 =>",
    ),
    ("icmp.type", "exact", "8", " 8 =>"),
    ("icmp.code", "range", "\"0..3\"", " 0->3 =>"),
    ("icmpv6.type", "exact", "135", " 135 =>"),
    ("icmpv6.code", "ternary", "\"0 &&& 0\"", " 0x0&&&0x0 =>"),
];

#[test]
fn every_field_and_match_kind_generates_a_key_and_an_entry() {
    for (field, kind, value, cli) in KEYS {
        let keys = format!("[{{ field = \"{field}\", match = \"{kind}\" }}]");
        let prio = if matches!(*kind, "ternary" | "range") {
            "priority = 7\n"
        } else {
            ""
        };
        let entry =
            format!("[[entry.t]]\nmatch = {{ \"{field}\" = {value} }}\n{prio}action = \"act\"\n");
        let m = module(&keys, "", r#"["drop"]"#, &entry);
        for arch in Arch::ALL {
            let out = generate(&m, arch);
            let names = out.names.table("t").unwrap();
            let key = format!("{}: {kind};", names.keys[0].p4);
            assert!(
                out.source.contains(&key),
                "{field} {kind} on {arch}: expected `{key}`"
            );
            assert!(
                out.cli.contains(cli),
                "{field} {kind} on {arch}: expected `{cli}` in\n{}",
                out.cli
            );
            if !prio.is_empty() {
                assert!(
                    out.cli.trim_end().ends_with(" 2147483640"),
                    "{field}: {}",
                    out.cli
                );
                assert!(
                    out.p4runtime.contains("\"priority\": 8"),
                    "{field}: {}",
                    out.p4runtime
                );
            }
        }
    }
}

#[test]
fn the_skip_rule_guards_each_table_with_its_headers() {
    let m = module(
        r#"[{ field = "l4.dst_port", match = "exact" }, { field = "ipv6.dst", match = "exact" }]"#,
        "",
        r#"["drop"]"#,
        "",
    );
    for arch in Arch::ALL {
        let out = generate(&m, arch);
        assert!(
            out.source.contains("if ((meta.verdict == VERDICT_CONTINUE) && hdr.ipv6.isValid() && (hdr.tcp.isValid() || hdr.udp.isValid())) {"),
            "{arch}:\n{}",
            out.source
        );
    }
}

#[test]
fn counters_follow_each_architecture() {
    let m = module(MAC_KEY, "", r#"["drop"]"#, &mac_entry(r#""act""#));
    let v1 = generate(&m, Arch::V1model).source;
    assert!(v1.contains("direct_counter(CounterType.packets_and_bytes) t_counter;"));
    assert!(v1.contains("counters = t_counter;"));
    assert!(v1.contains("t_miss_counter.count(32w0);"));
    let tna = generate(&m, Arch::Tna).source;
    assert!(tna.contains("DirectCounter<bit<64>>(CounterType_t.PACKETS_AND_BYTES) t_counter;"));
    // TNA counts in the action, and each table gets its own copy of an action.
    assert!(
        tna.contains(
            "action t_act() {\n        meta.verdict = VERDICT_DROP;\n        t_counter.count();"
        ),
        "{tna}"
    );
}

#[test]
fn cpu_port_and_port_map_are_applied_or_refused_with_a_reason() {
    let m = module(
        MAC_KEY,
        r#"p = "port""#,
        r#"["forward(p)"]"#,
        &mac_entry(r#"{ act = { p = "servers" } }"#),
    );
    let mut o = Options::new(Arch::V1model);
    o.cpu_port = Some(64);
    o.port_map.insert(2, 17);
    let out = compile(&m, &o).unwrap();
    assert!(out.source.contains("const port_t CPU_PORT = 9w64;"));
    assert!(out.source.contains("const port_t PORT_SERVERS = 9w17;"));
    // Packets arriving on switch port 17 are logical port 2.
    assert!(out.source.contains(
        "if (standard_metadata.ingress_port == PORT_SERVERS) {\n            meta.in_port = 16w2;"
    ));
    // Entry arguments are switch ports.
    assert!(out.cli.contains("=> 17"), "{}", out.cli);
    assert_eq!(out.names.ports[1].switch_port, 17);

    o.cpu_port = Some(511);
    assert!(matches!(
        compile(&m, &o),
        Err(P4Error::BadCpuPort { port: 511, .. })
    ));
    o.cpu_port = Some(600);
    assert!(matches!(
        compile(&m, &o),
        Err(P4Error::BadCpuPort { port: 600, .. })
    ));
    let mut o = Options::new(Arch::Tna);
    o.port_map.insert(2, 700);
    let err = compile(&m, &o).unwrap_err();
    assert!(
        matches!(err, P4Error::PortOutOfRange { port: 700, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("servers"), "{err}");
}

#[test]
fn unrepresentable_things_are_refused_with_a_named_reason() {
    // A logical port number that no 9-bit switch port can carry.
    let src = "[module]\nname = \"p\"\n[ports]\nfar = 600\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = [\"forward(far)\"]\n";
    let m = offload_core::spec::compile(src).unwrap();
    for arch in Arch::ALL {
        let err = compile(&m, &Options::new(arch)).unwrap_err();
        assert!(
            matches!(err, P4Error::PortOutOfRange { port: 600, .. }),
            "{arch}: {err}"
        );
    }

    // simple_switch's drop port, and the CPU port, cannot be forwarding ports.
    let src = "[module]\nname = \"p\"\n[ports]\nedge = 511\n[[table]]\nname = \"t\"\nactions = [\"a\"]\ndefault_action = \"a\"\n[action.a]\ndo = [\"forward(edge)\"]\n";
    let m = offload_core::spec::compile(src).unwrap();
    let err = compile(&m, &Options::new(Arch::V1model)).unwrap_err();
    assert!(
        matches!(err, P4Error::ReservedPort { port: 511, .. }),
        "{err}"
    );
    let m = offload_core::spec::compile(&src.replace("511", "64")).unwrap();
    let err = compile(&m, &Options::new(Arch::Tna)).unwrap_err();
    assert!(
        matches!(err, P4Error::ReservedPort { port: 64, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("CPU port"), "{err}");
    generate(&m, Arch::V1model);
    // (a runtime entry: the module file only allows declared ports)
    let mut m = module(
        MAC_KEY,
        r#"p = "port""#,
        r#"["forward(p)"]"#,
        &mac_entry(r#"{ act = { p = "servers" } }"#),
    );
    m.tables[0].entries[0].action.args[0] = 510;
    let err = compile(&m, &Options::new(Arch::V1model)).unwrap_err();
    assert!(
        matches!(err, P4Error::ReservedPort { port: 510, .. }),
        "{err}"
    );

    // A priority simple_switch_CLI cannot carry.
    let entry = "[[entry.t]]\nmatch = { \"ipv4.ttl\" = \"0..1\" }\npriority = 3000000000\naction = \"act\"\n";
    let m = module(
        r#"[{ field = "ipv4.ttl", match = "range" }]"#,
        "",
        r#"["drop"]"#,
        entry,
    );
    for arch in Arch::ALL {
        let err = compile(&m, &Options::new(arch)).unwrap_err();
        assert!(
            matches!(
                err,
                P4Error::PriorityOutOfRange {
                    priority: 3_000_000_000,
                    ..
                }
            ),
            "{arch}: {err}"
        );
    }

    // A table and an action with the same name share one P4 namespace on
    // v1model: the action is renamed, and the naming map says so.
    let src = "[module]\nname = \"c\"\n[[table]]\nname = \"fwd\"\nkeys = [{ field = \"eth.dst\", match = \"exact\" }]\nactions = [\"fwd\", \"fwd_action\"]\ndefault_action = \"fwd\"\n[action.fwd]\ndo = [\"pass\"]\n[action.fwd_action]\ndo = [\"drop\"]\n";
    let m = offload_core::spec::compile(src).unwrap();
    let out = generate(&m, Arch::V1model);
    let acts: Vec<&str> = out
        .names
        .table("fwd")
        .unwrap()
        .actions
        .iter()
        .map(|a| a.p4.as_str())
        .collect();
    assert_eq!(
        acts,
        ["IngressImpl.fwd_action", "IngressImpl.fwd_action_action"]
    );
    let src = src
        .replace(", \"fwd_action\"]", "]")
        .replace("[action.fwd_action]\ndo = [\"drop\"]\n", "");
    let m = offload_core::spec::compile(&src).unwrap();
    let out = generate(&m, Arch::V1model);
    assert!(
        out.source.contains("action fwd_action() {"),
        "{}",
        out.source
    );
    assert_eq!(
        out.names.table("fwd").unwrap().actions[0].p4,
        "IngressImpl.fwd_action"
    );
    assert!(out
        .cli
        .contains("table_set_default IngressImpl.fwd IngressImpl.fwd_action"));
    // On TNA the action is copied per table (`fwd_fwd`), so there is no clash.
    generate(&m, Arch::Tna);

    // A keyless table with entries (only a hand-built IR can have one).
    let mut m = module(MAC_KEY, "", r#"["drop"]"#, &mac_entry(r#""act""#));
    m.tables[0].keys.clear();
    m.tables[0].entries[0].matches.clear();
    let err = compile(&m, &Options::new(Arch::V1model)).unwrap_err();
    assert!(
        matches!(err, P4Error::KeylessTableWithEntries { .. }),
        "{err}"
    );
}

#[test]
fn tna_lists_its_deviations_and_v1model_has_none() {
    let m = module(MAC_KEY, "", r#"["drop"]"#, "");
    assert!(generate(&m, Arch::V1model).names.deviations.is_empty());
    let tna = generate(&m, Arch::Tna);
    assert!(tna
        .names
        .deviations
        .iter()
        .any(|d| d.contains("IPv4 header checksum")));
    assert!(tna
        .source
        .contains("Known differences from the reference semantics on this target"));
}

#[test]
fn a_broken_program_fails_the_sanity_check() {
    let m = module(MAC_KEY, r#"a = "ipv4""#, r#"["set(ipv4.src, a)"]"#, "");
    for arch in Arch::ALL {
        let out = generate(&m, arch);
        for (from, to) in [
            ("hdr.ipv4.src", "hdr.ipv4.source"),
            ("table t {", "table t2 {"),
            ("apply {", "apply {{"),
        ] {
            let broken = out.source.replacen(from, to, 1);
            assert!(
                sanity::check(&broken, arch).is_err(),
                "{arch}: `{from}` → `{to}` was not caught"
            );
        }
    }
}

#[test]
fn hash_keys_hash_the_header_fields_on_both_architectures() {
    let keys = r#"[{ field = "meta.group", match = "exact" }, { hash = ["ipv4.src", "l4.dst_port", "eth.src"], buckets = 8, match = "exact" }]"#;
    let entry = "[[group.t]]\nmatch = { \"meta.group\" = 0 }\nmembers = [\"act\", \"nop\"]\n";
    let m = module(keys, "", r#"["set(meta.group, 5)"]"#, entry);
    // The leaf where every header is valid (TCP): exactly those fields;
    // fewer where fewer are valid (p4c copies list fields into temporaries,
    // so BMv2's skipping of invalid headers cannot be relied on).
    let list = "{ hdr.ipv4.src, hdr.tcp.dst_port, hdr.eth.src }";
    for (arch, want) in [
        (
            Arch::V1model,
            vec![
                format!("hash(meta.hash, HashAlgorithm.crc32, 16w0, {list}, 32w8);"),
                "meta.hash: exact;".into(),
                "hash(meta.hash, HashAlgorithm.crc32, 16w0, { hdr.udp.dst_port }, 32w8);".into(),
                "meta.hash = 16w0;".into(),
                "bit<16> group;".into(),
                "meta.group = 16w5;".into(),
            ],
        ),
        (
            Arch::Tna,
            vec![
                "Hash<bit<32>>(HashAlgorithm_t.CRC32) t_hash_0;".into(),
                format!("meta.hash = (bit<16>)(t_hash_0.get({list}) & 32w7);"),
                "t_hash_1.get({ hdr.ipv4.src, hdr.tcp.dst_port })".into(),
                "meta.hash: exact;".into(),
                "meta.group = 16w0;".into(),
            ],
        ),
    ] {
        let out = generate(&m, arch);
        for w in &want {
            assert!(
                out.source.contains(w.as_str()),
                "{arch}: no `{w}` in\n{}",
                out.source
            );
        }
        // Eight entries, one per bucket, the members alternating.
        let adds: Vec<&str> = out
            .cli
            .lines()
            .filter(|l| l.starts_with("table_add"))
            .collect();
        assert_eq!(adds.len(), 8, "{arch}: {}", out.cli);
        assert!(
            adds[3].contains(" 0 3 =>") && adds[3].contains("nop"),
            "{arch}: {}",
            adds[3]
        );
        let key = &out.names.table("t").unwrap();
        assert_eq!(key.keys[1].field, "hash");
        assert_eq!(key.keys[1].p4, "meta.hash");
    }
    // Without meta.group in the module, no metadata field for it.
    let m = module(
        r#"[{ hash = ["ipv4.dst"], buckets = 2, match = "exact" }]"#,
        "",
        r#"["drop"]"#,
        "",
    );
    let out = generate(&m, Arch::V1model);
    assert!(!out.source.contains("bit<16> group;"));
    assert!(!out.names.fields.iter().any(|f| f.module == "meta.group"));
}
