//! The Ctrl-C path: `cleanup_registered` removes every live lab of the
//! process. In its own test binary, because it removes the labs of every test
//! running in the same process.

use offload_drivers::lab::{self, Lab};
use offload_drivers::testenv::require_root;
use std::net::Ipv4Addr;

#[test]
fn cleanup_registered_removes_live_labs() {
    if !require_root("cleanup_registered_removes_live_labs") {
        return;
    }
    let mut lab = Lab::new("sig");
    let h = lab.add_host("h", Ipv4Addr::new(10, 5, 0, 2), 24).unwrap();
    let pin_dir = std::env::temp_dir().join(format!("offload-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&pin_dir).unwrap();
    lab.remove_on_teardown(pin_dir.clone());
    // What the Ctrl-C handler runs.
    lab::cleanup_registered();
    assert!(!lab::netns_exists(&h.netns));
    assert!(!lab::link_exists(&h.outer));
    assert!(!pin_dir.exists());
    drop(lab); // nothing left to do, must not fail
}
