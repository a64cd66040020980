//! `status` reads the kernel, not offload's records: an entry removed behind
//! offload's back, or a program swapped on its link, shows up as drift.

mod deploy_common;

use deploy_common::*;
use offload_drivers::deploy::{self, status};
use offload_drivers::load::{attach, program, Mode};
use offload_drivers::sys::{self, Kernel};
use offload_drivers::testenv::require_root;
use std::os::fd::AsFd;

#[test]
fn out_of_band_changes_show_as_drift() {
    if !require_root("out_of_band_changes_show_as_drift") {
        return;
    }
    let rl = router_lab("drift");
    let source = rl.source();
    let rep = deploy::apply(&rl.request(&source, &rl.module, vec![Mode::Generic])).unwrap();
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    assert!(!st.has_drift(), "{st:#?}");

    // Someone deletes a route straight from the pinned map.
    let gen = rl.roots.gen_dir(&rl.module.name, &rl.up.outer, rep.version);
    let routes_map = std::fs::read_dir(&gen)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("_e_routes"))
        .unwrap()
        .path();
    let fd = sys::obj_get(&Kernel, &routes_map).unwrap();
    let info = sys::map_info(&Kernel, fd.as_fd()).unwrap();
    let mut key = vec![0u8; info.key_size as usize];
    assert!(sys::map_next_key(&Kernel, fd.as_fd(), None, &mut key).unwrap());
    assert!(sys::map_delete(&Kernel, fd.as_fd(), &key).unwrap());
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    let routes = st.tables.iter().find(|t| t.name == "routes").unwrap();
    assert_eq!(routes.drift.len(), 1, "{routes:#?}");
    assert!(
        routes.drift[0].contains("1 element(s) missing"),
        "{:?}",
        routes.drift
    );
    assert!(st.placements[0].drift.is_empty());

    // Someone switches our link to their program.
    let obj = pass_object("intruder");
    let l = program::load(&obj, "intruder", Mode::Generic).unwrap();
    attach::replace(
        &Kernel,
        &rl.roots.link_pin(&rl.module.name, &rl.up.outer),
        l.prog.as_fd(),
        None,
    )
    .unwrap();
    let st = &status::status(&rl.roots, Some(&rl.module.name)).unwrap()[0];
    let d = st.placements[0].drift.join("\n");
    assert!(d.contains(&format!("program id {} runs", l.info.id)), "{d}");
    assert!(
        d.contains(&format!("our link {}", st.placements[0].link_id.unwrap())),
        "{d}"
    );
    // The observed program is the kernel's answer, not our record.
    assert_eq!(
        st.placements[0].observed.as_ref().unwrap().1.name,
        "intruder"
    );
}

fn pass_object(name: &str) -> Vec<u8> {
    use offload_ebpf::elf::{write_object, ObjectSpec, ProgramSection};
    let code: Vec<u8> = [[0xb7u8, 0, 0, 0, 2, 0, 0, 0], [0x95, 0, 0, 0, 0, 0, 0, 0]].concat();
    write_object(&ObjectSpec {
        program_section: ProgramSection::Xdp,
        program_name: name,
        insns: &code,
        map_relocs: vec![],
        maps: vec![],
        license: "GPL",
    })
    .unwrap()
}
