//! Prints the P4 program for a module file: `cargo run -p offload-p4 --example show FILE [v1model|tna]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: show FILE [v1model|tna]");
    let arch = args
        .next()
        .and_then(|a| offload_p4::Arch::from_target_name(&a))
        .unwrap_or(offload_p4::Arch::V1model);
    let src = std::fs::read_to_string(&path).expect("readable module file");
    let m = match offload_core::spec::compile(&src) {
        Ok(m) => m,
        Err(d) => {
            eprintln!("{d:?}");
            std::process::exit(1);
        }
    };
    match offload_p4::compile(&m, &offload_p4::Options::new(arch)) {
        Ok(out) => print!("{}\n{}", out.source, out.cli),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
