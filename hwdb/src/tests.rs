use super::*;

#[test]
fn every_entry_parses_and_names_a_source_for_every_claim() {
    let db = Hwdb::builtin().expect("embedded hwdb parses");
    assert!(db.entries().len() >= 25, "{} entries", db.entries().len());
    for e in db.entries() {
        let claims = e.claims();
        assert!(e.driver.is_some(), "{}: no driver claim", e.family);
        assert!(!claims.is_empty(), "{}: no claims", e.family);
        for (name, _, source) in claims {
            assert!(
                source.trim().len() >= 10,
                "{} ({}): claim {name} has no real source: {source:?}",
                e.family,
                e.key
            );
        }
        if e.kind == DeviceKind::Switch {
            assert!(
                e.switch_arch.is_some(),
                "{}: a switch needs switch_arch",
                e.family
            );
        }
        if e.xdp_hw_offload.as_ref().is_some_and(|c| c.value) {
            assert!(
                e.profile().is_some(),
                "{}: hw offload needs a profile",
                e.family
            );
        }
    }
}

#[test]
fn required_devices_are_present() {
    let db = Hwdb::builtin().unwrap();
    let pci = |s: &str| db.lookup_str(s).unwrap().map(|e| e.family.clone());
    assert_eq!(pci("19ee:4000").unwrap(), "Netronome NFP-4000 (Agilio CX)");
    assert!(pci("19ee:6000").unwrap().contains("NFP-6000"));
    assert!(pci("15b3:1013").unwrap().contains("ConnectX-4"));
    assert!(pci("15b3:1017").unwrap().contains("ConnectX-5"));
    assert!(pci("15b3:101b").unwrap().contains("ConnectX-6"));
    assert!(pci("8086:1592").unwrap().contains("E810"));
    assert!(pci("8086:1572").unwrap().contains("X710"));
    assert!(pci("8086:10fb").unwrap().contains("82599"));
    assert!(pci("1af4:1000").unwrap().contains("virtio"));
    assert!(pci("1af4:1041").unwrap().contains("virtio"));
    assert!(pci("1d1c:0001").unwrap().contains("Tofino"));
    assert!(pci("1d1c:0110").unwrap().contains("Tofino 2"));
    assert!(db.lookup_driver("netdevsim").is_some());
    assert!(db.lookup_driver("veth").is_some());
    assert!(pci("dead:beef").is_none());
    // A subsystem id falls back to the device entry.
    assert!(pci("19ee:4000:19ee:0001").unwrap().contains("NFP-4000"));
}

#[test]
fn profiles_carry_the_hwdb_limits_and_sources() {
    let db = Hwdb::builtin().unwrap();
    let nfp = db
        .lookup_str("19ee:4000")
        .unwrap()
        .unwrap()
        .profile()
        .unwrap();
    assert_eq!(nfp.name, "nfp");
    let insns = nfp.limits.max_insns.unwrap();
    assert_eq!(insns.value, 2800);
    assert!(insns.source.starts_with("hwdb netronome.toml:"));
    let nsim = db.lookup_driver("netdevsim").unwrap().profile().unwrap();
    assert_eq!(nsim.limits.max_entries_per_map.unwrap().value, 2);
    let tofino = db.lookup_str("1d1c:0010").unwrap().unwrap();
    assert_eq!(tofino.switch_arch.as_ref().unwrap().value, "tna");
    assert_eq!(tofino.profile().unwrap().name, "tna");
}

#[test]
fn malformed_data_is_a_clear_error() {
    let bad = [("x.toml", "[[device]]\nfamily = \"x\"\nkind = \"nic\"\n")];
    let e = Hwdb::parse(&bad).unwrap_err().to_string();
    assert!(
        e.contains("x.toml") && e.contains("exactly one of `pci` or `driver_name`"),
        "{e}"
    );
    let bad = [(
        "y.toml",
        "[[device]]\npci = \"19ee:40\"\nfamily = \"x\"\nkind = \"nic\"\n",
    )];
    let e = Hwdb::parse(&bad).unwrap_err().to_string();
    assert!(e.contains("4 hex digits"), "{e}");
    let bad = [(
        "z.toml",
        "[[device]]\npci = \"19ee:4000\"\nfamily = \"x\"\nkind = \"nic\"\ndriver = { value = \"nfp\" }\n",
    )];
    let e = Hwdb::parse(&bad).unwrap_err().to_string();
    assert!(e.contains("z.toml") && e.contains("source"), "{e}");
    let dup = [
        (
            "a.toml",
            "[[device]]\ndriver_name = \"veth\"\nfamily = \"x\"\nkind = \"virtual\"\n",
        ),
        (
            "b.toml",
            "[[device]]\ndriver_name = \"veth\"\nfamily = \"y\"\nkind = \"virtual\"\n",
        ),
    ];
    let e = Hwdb::parse(&dup).unwrap_err().to_string();
    assert!(e.contains("twice"), "{e}");
}

#[test]
fn names_come_from_pci_ids() {
    let n = pci_names(0x15b3, 0x1017, None, Some(0x020000));
    assert_eq!(n.vendor, Some("Mellanox Technologies"));
    assert_eq!(n.device, Some("MT27800 Family [ConnectX-5]"));
    assert_eq!(n.class, Some("Ethernet controller"));
    let n = pci_names(0x1af4, 0x1041, Some((0x1af4, 0x1100)), None);
    assert_eq!(n.subsystem, Some("QEMU"));
    let n = pci_names(0x19ee, 0x4000, None, None);
    assert_eq!(n.vendor, Some("Netronome Systems, Inc."));
    assert_eq!(n.device, None, "pci.ids lists no Netronome devices");
}

#[test]
fn pci_id_queries_parse_or_explain() {
    assert_eq!(parse_pci_id("1AF4:1041").unwrap().vendor, 0x1af4);
    assert!(parse_pci_id("1af4").is_err());
    assert!(parse_pci_id("zz:1041")
        .unwrap_err()
        .contains("not a 16-bit hex"));
}
