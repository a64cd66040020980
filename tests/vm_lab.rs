//! The offload lab VM (issue 7): boots a 6.1 guest kernel with netdevsim under QEMU/TCG and runs
//! `lab/vm/scenarios/*.sh` against the offloadctl built by this package. Needs no root and no
//! KVM, but needs qemu-system-x86, linux-source-6.1, busybox-static, bpftool and a kernel build
//! toolchain; without them the test skips with the list, unless OFFLOAD_REQUIRE_KERNEL_TESTS=1,
//! where a missing piece is a failure. The first run builds the guest kernel (5-8 min on 2 cores)
//! into the cache (`$OFFLOAD_LAB_CACHE` or `~/.cache/offload-lab`); later runs take seconds.

use offload_drivers::vmlab::{self, LabOptions, Outcome};
use std::path::PathBuf;

/// Checks that must have run and passed: a lab where these were skipped proved nothing.
const ESSENTIAL: [&str; 6] = [
    "vm.reached_init",
    "lab.netdevsim.device",
    "lab.smoke.prog_offloaded",
    "lab.smoke.attached_hw",
    "lab.smoke.map_full",
    "vm.all_scenarios_ran",
];

#[test]
fn offload_lab_vm() {
    let opts = LabOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_offloadctl")));
    let missing = vmlab::missing_pieces(&opts);
    if !missing.is_empty() {
        let why = format!("offload lab VM: missing {}", missing.join("; "));
        if std::env::var("OFFLOAD_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{why}, and OFFLOAD_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("skipped offload_lab_vm: {why} (set OFFLOAD_REQUIRE_KERNEL_TESTS=1 to make this a failure)");
        return;
    }
    let run = vmlab::run(&opts, &mut |l| eprintln!("vm lab: {l}"), None)
        .unwrap_or_else(|e| panic!("offload lab VM: {e}"));
    eprintln!("{}", run.report.matrix());
    eprintln!(
        "vm lab: kernel {} ({}), VM wall {:.1} s, /init at {:?} s, scenarios ended at {:?} s; console: {}",
        run.report.info("kernel").unwrap_or("?"),
        run.kernel.built_in.map_or("cached".to_string(), |t| format!("built in {:.0} s", t.as_secs_f64())),
        run.vm_wall.as_secs_f64(),
        run.uptime_at_init,
        run.uptime_at_end,
        run.serial_log.display()
    );
    assert!(
        run.report.ok(),
        "offload lab VM: failed checks:\n{}",
        run.report.failures()
    );
    for name in ESSENTIAL {
        let check = run.report.checks.iter().find(|c| c.name == name);
        assert!(
            check.is_some_and(|c| c.outcome == Outcome::Pass),
            "offload lab VM: essential check {name} did not pass: {check:?}"
        );
    }
}
