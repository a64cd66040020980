//! Traffic through a deployed module while something changes: how many
//! packets of a steady stream arrive.

use offload_drivers::lab::netns::in_netns;
use offload_drivers::lab::Host;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// UDP from `from` to 192.168.1.2:5000 (the servers host, `to`), one packet
/// every 500 µs, while `during` runs: (sent, received).
pub fn loss_during(from: &Host, to: &Host, during: impl FnOnce()) -> (u32, u32) {
    let ns = to.netns.clone();
    let rx = in_netns(&ns, || {
        let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        s
    })
    .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let fns = from.netns.clone();
    let sender = std::thread::spawn(move || {
        in_netns(&fns, move || {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            let mut n = 0u32;
            // Bounded: 60 s at most whatever `during` does.
            let t0 = Instant::now();
            while !stop2.load(std::sync::atomic::Ordering::SeqCst)
                && t0.elapsed() < Duration::from_secs(60)
            {
                if s.send_to(
                    b"offload-loss-probe",
                    SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 5000),
                )
                .is_ok()
                {
                    n += 1;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            n
        })
        .unwrap()
    });
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut n = 0u32;
        while rx.recv(&mut buf).is_ok() {
            n += 1;
        }
        n
    });
    std::thread::sleep(Duration::from_millis(300));
    during();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    (sender.join().unwrap(), receiver.join().unwrap())
}
