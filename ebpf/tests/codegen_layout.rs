//! The public map layout: key/value bytes for entries, read back, and the
//! tuple-space image (masks ordered by priority, elements = mask ‖ masked key).

use offload_core::ir::{KeyMatch, MatchKind};
use offload_ebpf::layout::{for_module, Hook, TableKind, DEFAULT_MAX_MASKS};

fn example(name: &str) -> offload_core::ir::Module {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../examples/{name}.toml"));
    offload_core::spec::compile(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn exact_and_lpm_entries_round_trip() {
    for name in ["edge-router", "l2-switch", "ddos-filter"] {
        let m = example(name);
        let layout = for_module(&m, Hook::Xdp, DEFAULT_MAX_MASKS);
        for t in &m.tables {
            let tl = layout.table(t.id);
            if matches!(tl.kind, TableKind::TupleSpace { .. }) {
                continue;
            }
            let entries: Vec<_> = t
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e, i as u32))
                .collect();
            let image = tl.encode_entries(t, &entries).unwrap();
            assert_eq!(image.entries.len(), t.entries.len());
            for ((k, v), (e, slot)) in image.entries.iter().zip(&entries) {
                assert_eq!(k.len() as u32, tl.entries_key_size());
                assert_eq!(tl.decode_key(t, k).unwrap(), e.matches, "{name}/{}", t.name);
                let (call, s, _) = tl.decode_value(&m, v).unwrap();
                assert_eq!((call, s), (e.action.clone(), *slot));
            }
        }
    }
}

#[test]
fn lpm_key_is_prefix_length_then_exact_parts_then_lpm_field() {
    let m = example("edge-router");
    let layout = for_module(&m, Hook::Xdp, DEFAULT_MAX_MASKS);
    let t = m.table_by_name("routes").unwrap();
    let tl = layout.table(t.id);
    assert_eq!(tl.kind, TableKind::Lpm);
    let e = &t.entries[0]; // 192.168.1.0/24
    let image = tl.encode_entries(t, &[(e, 0)]).unwrap();
    let (k, _) = &image.entries[0];
    assert_eq!(k, &[24, 0, 0, 0, 192, 168, 1, 0]);
    let spec = layout.map(&tl.entries_map).unwrap();
    assert_eq!((spec.map_type, spec.key_size, spec.map_flags), (11, 8, 1));
}

#[test]
fn tuple_space_image_orders_masks_by_priority_and_masks_keys() {
    let m = example("ddos-filter");
    let layout = for_module(&m, Hook::Xdp, DEFAULT_MAX_MASKS);
    let t = m.table_by_name("blocklist").unwrap();
    let tl = layout.table(t.id);
    assert!(matches!(tl.kind, TableKind::TupleSpace { .. }));
    let entries: Vec<_> = t
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e, i as u32))
        .collect();
    let image = tl.encode_entries(t, &entries).unwrap();
    let n = tl.key.padded as usize;
    // Masks: used = 1, max priority non-increasing along the array.
    let prios: Vec<u32> = image
        .masks
        .iter()
        .map(|(_, v)| {
            assert_eq!(u32::from_ne_bytes(v[0..4].try_into().unwrap()), 1);
            u32::from_ne_bytes(v[4..8].try_into().unwrap())
        })
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    // Each element: mask ‖ (value & mask), and its mask is in the masks array.
    for (k, v) in &image.entries {
        let (mask, val) = k.split_at(n);
        assert!(val.iter().zip(mask).all(|(v, m)| v & !m == 0));
        assert!(image.masks.iter().any(|(_, mv)| &mv[8..] == mask));
        let (call, slot, prio) = tl.decode_value(&m, v).unwrap();
        assert_eq!(t.entries[slot as usize].priority, Some(prio));
        assert_eq!(t.entries[slot as usize].action, call);
    }
    // Decoded keys are ternary (value, mask) per key.
    let km = tl.decode_key(t, &image.entries[0].0).unwrap();
    assert!(km.iter().all(|m| matches!(m, KeyMatch::Ternary { .. })));
    assert!(t.keys.iter().any(|k| k.kind == MatchKind::Range));
}

#[test]
fn too_many_masks_is_an_error_naming_the_table() {
    let m = example("ddos-filter");
    let layout = for_module(&m, Hook::Xdp, 1);
    let t = m.table_by_name("blocklist").unwrap();
    let entries: Vec<_> = t
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e, i as u32))
        .collect();
    let err = layout.table(t.id).encode_entries(t, &entries).unwrap_err();
    assert!(err.to_string().contains("blocklist"), "{err}");
}

#[test]
fn layout_for_a_target_is_the_compiled_layout() {
    use offload_ebpf::codegen::{compile, layout_for, Target};
    let m = example("ddos-filter");
    for t in [
        Target::xdp(),
        Target::tc(),
        Target::xdp_offload(offload_core::plan::Profile::nfp()),
    ] {
        let c = compile(&m, &t).unwrap();
        assert_eq!(layout_for(&m, &t), c.layout);
    }
    // The kernel's mask loop parks state in a scratch map; the unrolled
    // offload form has none and keeps counters in shared arrays.
    let kernel = layout_for(&m, &Target::xdp());
    assert!(kernel.scratch_map.is_some());
    let nfp = layout_for(&m, &Target::xdp_offload(offload_core::plan::Profile::nfp()));
    assert!(nfp.scratch_map.is_none());
    assert!(nfp.maps.iter().all(|s| s.map_type == 1 || s.map_type == 2));
}

#[test]
fn hash_keys_get_a_scratch_buffer_and_the_crc32_table_on_kernel_targets_only() {
    use offload_ebpf::codegen::{compile, CompileError, Target};
    use offload_ebpf::layout::{crc32_table_value, MapRole};
    let m = example("l3-router-ecmp");
    for t in [Target::xdp(), Target::tc()] {
        let c = compile(&m, &t).unwrap();
        let spec = |role: MapRole| c.layout.maps.iter().find(|s| s.role == role).unwrap();
        // Parse state (24 B), length and CRC (8 B), the 13 hashed bytes rounded to 16.
        assert_eq!(spec(MapRole::Scratch).value_size, 32 + 16);
        let crc = spec(MapRole::Crc32Table);
        assert_eq!(
            (crc.map_type, crc.value_size, crc.max_entries),
            (2, 1024, 1)
        );
        assert_eq!(c.layout.crc32_map.as_deref(), Some("crc32"));
    }
    // zlib's table: entry 1 is 0x77073096 (what the program checks), 255 is 0x2D02EF8D.
    let v = crc32_table_value();
    let at = |i: usize| u32::from_ne_bytes(v[4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!((at(0), at(1), at(255)), (0, 0x7707_3096, 0x2D02_EF8D));
    // A target without loops cannot compute a hash key: a named error.
    let mut unrolled = Target::xdp();
    unrolled.unroll_masks = true;
    match compile(&m, &unrolled) {
        Err(CompileError::HashKeyNeedsLoops { table, .. }) => assert_eq!(table, "ecmp"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}
