//! Meters on a live veth with the kernel's clock: frames sent at a known
//! rate (10,000/s for 1 s) above the meter's (2,000/s, burst 50) through an
//! XDP (generic) or tc program; the green count (read from counters, see
//! `tests/fixtures/meters/live-color.toml`) must be within ±10 % of what the
//! reference predicts for the same send times (`semantics::run_timed` over
//! the times the frames were sent). The tolerance covers the delivery
//! jitter between the sender's clock and the program's `bpf_ktime_get_ns`.
//!
//! Needs root; skips with a reason otherwise (a failure with
//! OFFLOAD_REQUIRE_KERNEL_TESTS=1).

use offload_core::ir::{Color, PortId};
use offload_core::semantics::{self, MeterState};
use offload_drivers::lab::netns::in_netns;
use offload_drivers::lab::Lab;
use offload_drivers::load::attach::attach;
use offload_drivers::sys::Kernel;
use offload_drivers::testenv::require_root;
use offload_drivers::validate::bpf as vbpf;
use offload_ebpf::layout::Hook;
use std::time::{Duration, Instant};

const SEND_RATE: u64 = 10_000;
const SECONDS: f64 = 1.0;
const TOLERANCE: f64 = 0.10;

fn frame(dst_mac: [u8; 6], src_mac: [u8; 6]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4([10, 77, 0, 2], [10, 77, 0, 1], 64)
        .udp(4000, 9)
        .write(&mut out, b"offload-meter-live")
        .expect("frame");
    out
}

/// Sends `frame` out of `iface` in `netns` at `rate` per second for
/// `seconds`; returns each send's offset from the first, in ns.
fn send_paced(netns: &str, iface: &str, frame: Vec<u8>, rate: u64, seconds: f64) -> Vec<u64> {
    let iface = iface.to_string();
    in_netns(netns, move || {
        // SAFETY: a packet socket; checked below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(fd >= 0, "AF_PACKET: {}", std::io::Error::last_os_error());
        let name = std::ffi::CString::new(iface).expect("name");
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        // SAFETY: zeroed sockaddr_ll, filled below.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_ifindex = ifindex as i32;
        sa.sll_halen = 6;
        let n = (rate as f64 * seconds) as u64;
        let gap = Duration::from_nanos(1_000_000_000 / rate);
        let t0 = Instant::now();
        let mut times = Vec::with_capacity(n as usize);
        for i in 0..n {
            let due = t0 + gap * i as u32;
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            let at = t0.elapsed().as_nanos() as u64;
            // SAFETY: valid buffer and address for the call's duration.
            let r = unsafe {
                libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&sa as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if r == frame.len() as isize {
                times.push(at);
            }
        }
        // SAFETY: our descriptor.
        unsafe { libc::close(fd) };
        times
    })
    .expect("netns")
}

fn live(hook: Hook) {
    let src = std::fs::read_to_string("tests/fixtures/meters/live-color.toml").unwrap();
    let m = offload_core::spec::compile(&src).expect("fixture compiles");
    let mut lab = Lab::new("meter");
    let h = lab
        .add_host("h1", "10.77.0.2".parse().unwrap(), 24)
        .expect("lab host");
    let (c, mut loaded) = vbpf::load(&m, hook, &|_| 0).expect("load");
    let link = attach(&Kernel, &mut loaded, &h.outer, h.outer_ifindex).expect("attach");
    let f = frame(h.outer_mac, h.mac);
    let times = send_paced(&h.netns, &h.iface, f.clone(), SEND_RATE, SECONDS);
    std::thread::sleep(Duration::from_millis(100));
    let counters = vbpf::read_counters(&m, &c, &loaded).expect("counters");
    drop(link);
    lab.teardown();

    // The reference on the same send times (starting late enough that the
    // first frame sees a full bucket, as the kernel's does).
    let mut state = MeterState::new();
    let mut predicted = 0u64;
    for t in &times {
        let tr = semantics::run_timed_traced(&m, PortId(0), &f, 1_000_000_000 + t, &mut state);
        predicted += tr
            .meters
            .iter()
            .filter(|(_, _, c)| *c == Color::Green)
            .count() as u64;
    }
    let lim = c.layout.table(m.tables[0].id).counters_map.clone().unwrap();
    let color = c.layout.table(m.tables[1].id).counters_map.clone().unwrap();
    let hits = counters.get(&(lim, 0)).map_or(0, |x| x.0);
    let green = counters.get(&(color, 0)).map_or(0, |x| x.0);
    let span = (*times.last().unwrap() - times[0]) as f64 / 1e9;
    eprintln!(
        "{hook:?} live: sent {} frames in {span:.3} s ({:.0}/s), {hits} reached the meter, {green} green (reference predicts {predicted} for the same send times: {:+.1} %), {} red",
        times.len(),
        times.len() as f64 / span,
        (green as f64 - predicted as f64) / predicted as f64 * 100.0,
        hits - green
    );
    assert!(
        hits as f64 >= times.len() as f64 * 0.99,
        "{hook:?}: only {hits} of {} frames reached the program",
        times.len()
    );
    let err = (green as f64 - predicted as f64).abs() / predicted as f64;
    assert!(
        err <= TOLERANCE,
        "{hook:?}: {green} green, the reference predicts {predicted} (±{:.0} %)",
        TOLERANCE * 100.0
    );
    assert!(
        hits - green > green,
        "{hook:?}: most frames must be red at 5× the rate"
    );
}

#[test]
fn a_live_xdp_meter_passes_what_the_reference_predicts() {
    if !require_root("a_live_xdp_meter_passes_what_the_reference_predicts") {
        return;
    }
    live(Hook::Xdp);
}

#[test]
fn a_live_tc_meter_passes_what_the_reference_predicts() {
    if !require_root("a_live_tc_meter_passes_what_the_reference_predicts") {
        return;
    }
    live(Hook::Tc);
}
