//! The shipped examples compile (checked against the library as users see it).

use offload_core::spec;

#[test]
fn examples_compile() {
    for (name, src) in [
        (
            "edge-router.toml",
            include_str!("../../examples/edge-router.toml"),
        ),
        (
            "l2-switch.toml",
            include_str!("../../examples/l2-switch.toml"),
        ),
        (
            "ddos-filter.toml",
            include_str!("../../examples/ddos-filter.toml"),
        ),
    ] {
        if let Err(ds) = spec::compile(src) {
            panic!("{name}:\n{}", ds.render_plain(name, src));
        }
    }
}
