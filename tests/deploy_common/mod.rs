//! Shared by the deploy kernel tests: an edge-router lab (three hosts, one per
//! logical port), probes covering every path of the example, and helpers.
#![allow(dead_code)]

pub mod targets;
pub mod traffic;

use offload_core::ir::{Module, PortId};
use offload_drivers::deploy::{self, ApplyRequest, Roots};
use offload_drivers::lab::compare::{Probe, Wire};
use offload_drivers::lab::frames::{Ipv4Frame, ICMP, TCP, UDP};
use offload_drivers::lab::{Host, Lab};
use offload_drivers::load::Mode;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub const EDGE_ROUTER: &str = include_str!("../../examples/edge-router.toml");

pub struct RouterLab {
    pub lab: Lab,
    pub up: Host,
    pub srv: Host,
    pub bak: Host,
    pub roots: Roots,
    pub module: Module,
}

impl Drop for RouterLab {
    fn drop(&mut self) {
        // Whatever a test left deployed goes with its lab.
        let _ = deploy::detach(&self.roots, Some(&self.module.name));
        let _ = std::fs::remove_dir_all(&self.roots.state);
        let _ = std::fs::remove_dir_all(self.roots.bpffs.join("offload").join(&self.module.name));
    }
}

/// A lab with hosts behind uplink, servers and backup, and private state/pin
/// roots (so tests run in parallel): the module is renamed per test so pins do
/// not collide.
pub fn router_lab(tag: &str) -> RouterLab {
    offload_drivers::load::bpffs::ensure_mounted().unwrap();
    let mut lab = Lab::new(tag);
    let up = lab.add_host("up", Ipv4Addr::new(10, 0, 1, 2), 24).unwrap();
    let srv = lab
        .add_host("srv", Ipv4Addr::new(192, 168, 1, 2), 24)
        .unwrap();
    let bak = lab
        .add_host("bak", Ipv4Addr::new(192, 168, 2, 2), 16)
        .unwrap();
    let name = format!("er-{tag}-{}", std::process::id());
    let source = EDGE_ROUTER.replace("name = \"edge-router\"", &format!("name = \"{name}\""));
    let module = offload_core::spec::compile(&source).unwrap();
    let roots = Roots {
        bpffs: PathBuf::from("/sys/fs/bpf"),
        state: std::env::temp_dir().join(format!("offload-state-{name}")),
    };
    RouterLab {
        lab,
        up,
        srv,
        bak,
        roots,
        module,
    }
}

impl RouterLab {
    pub fn source(&self) -> String {
        EDGE_ROUTER.replace(
            "name = \"edge-router\"",
            &format!("name = \"{}\"", self.module.name),
        )
    }
    pub fn ports(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("uplink".to_string(), self.up.outer.clone()),
            ("servers".to_string(), self.srv.outer.clone()),
            ("backup".to_string(), self.bak.outer.clone()),
        ])
    }
    pub fn wires(&self) -> Vec<Wire> {
        let p = |n: &str| self.module.port_by_name(n).unwrap().id;
        vec![
            Wire {
                port: p("uplink"),
                port_name: "uplink".into(),
                host: self.up.clone(),
            },
            Wire {
                port: p("servers"),
                port_name: "servers".into(),
                host: self.srv.clone(),
            },
            Wire {
                port: p("backup"),
                port_name: "backup".into(),
                host: self.bak.clone(),
            },
        ]
    }
    pub fn request<'a>(
        &'a self,
        source: &'a str,
        module: &'a Module,
        modes: Vec<Mode>,
    ) -> ApplyRequest<'a> {
        ApplyRequest {
            module,
            source,
            source_path: None,
            on: vec![self.up.outer.clone()],
            ports: self.ports(),
            modes,
            replace_foreign: false,
            batch: true,
            roots: self.roots.clone(),
            offload_profile: None,
        }
    }
    pub fn uplink(&self) -> PortId {
        self.module.port_by_name("uplink").unwrap().id
    }

    /// Frames from the uplink host covering every path of edge-router.
    pub fn probes(&self) -> Vec<Probe> {
        let mut out = Vec::new();
        let mut n = 0;
        let mut add = |label: &str, src: [u8; 4], dst: [u8; 4], proto: u8, dport: u16, ttl: u8| {
            n += 1;
            let marker = format!("offload-probe-{n:03}").into_bytes();
            let f = Ipv4Frame {
                dst_mac: self.up.outer_mac,
                src_mac: self.up.mac,
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::from(dst),
                ttl,
                proto,
                sport: 40000 + n,
                dport,
                payload: marker.clone(),
            };
            out.push(Probe {
                label: label.to_string(),
                from: self.uplink(),
                frame: f.emit(),
                marker,
            });
        };
        add(
            "udp to a server",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            UDP,
            5000,
            64,
        );
        add(
            "udp via the backup route",
            [10, 0, 1, 2],
            [192, 168, 7, 7],
            UDP,
            5000,
            64,
        );
        add(
            "ssh from management",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            TCP,
            22,
            64,
        );
        add(
            "ssh from outside",
            [172, 16, 0, 5],
            [192, 168, 1, 2],
            TCP,
            22,
            64,
        );
        add("netbios", [10, 0, 1, 2], [192, 168, 1, 2], UDP, 137, 64);
        add(
            "blackholed host",
            [10, 0, 1, 2],
            [198, 51, 100, 7],
            UDP,
            9,
            64,
        );
        add(
            "no route: to host",
            [10, 0, 1, 2],
            [8, 8, 8, 8],
            UDP,
            53,
            64,
        );
        add(
            "ping a server",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            ICMP,
            1,
            64,
        );
        add(
            "ttl 1: to host",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            UDP,
            5000,
            1,
        );
        add(
            "tcp from a denied net",
            [192, 0, 2, 9],
            [192, 168, 1, 2],
            TCP,
            443,
            64,
        );
        add(
            "https to a server",
            [10, 0, 1, 2],
            [192, 168, 1, 2],
            TCP,
            443,
            64,
        );
        out
    }
}

/// A routable lab: the servers and backup hosts have the MACs the module's
/// routes write, and the uplink/servers hosts have static default routes
/// (so a socket in the uplink host reaches 192.168.1.2 through the module,
/// as `traffic::loss_during` needs).
pub fn routable_lab(tag: &str) -> RouterLab {
    let mut rl = router_lab(tag);
    rl.srv = rl.lab.set_host_mac("srv", [2, 0, 0, 0, 0, 2]).unwrap();
    rl.bak = rl.lab.set_host_mac("bak", [2, 0, 0, 0, 0, 3]).unwrap();
    rl.lab
        .add_route(
            &rl.up,
            "default",
            Ipv4Addr::new(10, 0, 1, 1),
            &rl.up.outer_mac,
        )
        .unwrap();
    rl.lab
        .add_route(
            &rl.srv,
            "default",
            Ipv4Addr::new(192, 168, 1, 1),
            &rl.srv.outer_mac,
        )
        .unwrap();
    rl
}
