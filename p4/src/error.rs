//! Why a module cannot be turned into P4 for a target, or its entries into
//! runtime commands. Each variant names the culprit and the reason.

use crate::arch::Arch;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P4Error {
    /// VXLAN (keys on `vxlan.*`/`inner_*`, `vxlan_encap`, `vxlan_decap`):
    /// defined in the reference, not generated for P4 (no P4 toolchain was
    /// there to prove it), so refused by name rather than approximated.
    #[error("the module uses {what}; the P4 backend does not generate VXLAN yet (v1model and TNA refuse it; the reference interpreter defines it)")]
    Vxlan { what: String },
    /// A metered table: not generated for P4 (see the README, "Meters").
    #[error("table `{table}` has a meter; {arch} meters (v1model direct_meter, TNA DirectMeter) are three-color meters whose buckets refill in the switch's own units and time base, so offload-p4 does not generate them: the same module would mean something else on the switch (run it on XDP or tc)")]
    Meter { table: String, arch: Arch },

    /// Two module names map to the same P4 identifier.
    #[error("`{first}` and `{second}` both become the P4 name `{p4}`; rename one of them")]
    NameCollision {
        first: String,
        second: String,
        p4: String,
    },

    /// A switch port number does not fit the target's port field.
    #[error("{what} maps to switch port {port}, but {arch} ports are {width} bits (0..={max})")]
    PortOutOfRange {
        what: String,
        port: u32,
        arch: Arch,
        width: u32,
        max: u32,
    },

    /// A switch port the target reserves, or the CPU port used as a forwarding port.
    #[error("{what} maps to switch port {port}, which {arch} reserves: {reason}")]
    ReservedPort {
        what: String,
        port: u32,
        arch: Arch,
        reason: &'static str,
    },

    /// The CPU port collides with the drop port or does not fit.
    #[error("CPU port {port} cannot be used on {arch}: {reason}")]
    BadCpuPort {
        port: u32,
        arch: Arch,
        reason: &'static str,
    },

    /// A priority the runtime API cannot represent.
    #[error(
        "table `{table}`: entry {entry}: priority {priority} does not fit {api} (at most {max})"
    )]
    PriorityOutOfRange {
        table: String,
        entry: usize,
        priority: u32,
        api: &'static str,
        max: u32,
    },

    /// A table without keys matches every packet with its first entry in the
    /// reference semantics, but a keyless P4 table only ever runs its default action.
    #[error("table `{table}` has no keys but has entries; a keyless P4 table can only run its default action (make the entry the default_action)")]
    KeylessTableWithEntries { table: String },

    /// A chain where a module after one that pops a VLAN tag would have to
    /// parse again what the switch's one parser took as payload.
    #[error("module `{module}` can pop a VLAN tag and module `{next}` runs after it: the next module must then parse the frame as left (a third tag becomes a parsed tag), which one P4 parse cannot do; put `{module}` last, or run the chain on XDP/tc")]
    ChainReparse { module: String, next: String },

    /// A chain where a module changes the frame's length (push/pop) and a
    /// later module counts bytes: the switch counts the length at ingress.
    #[error("module `{module}` can push or pop a VLAN tag and module `{later}` counts bytes after it: its counters must see the frame's length as it reaches `{later}`, but switch counters count the length at ingress; turn off `{later}`'s counters, reorder, or run the chain on XDP/tc")]
    ChainCounterBytes { module: String, later: String },

    /// An entry or call refers to something the module does not have (a broken IR).
    #[error("broken module: {what}")]
    BrokenModule { what: String },
}
