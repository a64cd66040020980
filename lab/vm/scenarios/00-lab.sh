# The lab itself: the netdevsim offload device appears and the kernel's offload control path works
# with tools that are not offloadctl (offload-smoke, iproute2, bpftool), so a failure further on
# can be blamed on offloadctl and not on the VM. netdevsim never runs an offloaded program on
# packets: these checks prove the control path (verify, load, maps, attach, detach) only.

SMOKE_IF=$(nsim_new 1 1)
check_out lab.netdevsim.device '^[a-z]' echo "$SMOKE_IF"
check_ok lab.netdevsim.debugfs test -f "$(nsim_dbg 1)/ports/0/bpf_xdpoffload_accept"
check_out lab.offloadctl.runs 'Usage: offloadctl' offloadctl --help

# Load on the device: map with map_ifindex, program with prog_ifindex, pinned.
check_out lab.smoke.load 'prog_id=[1-9]' offload-smoke "$SMOKE_IF" /sys/fs/bpf/smoke
check_out lab.smoke.prog_offloaded "offloaded_to $SMOKE_IF" bpftool prog show pinned /sys/fs/bpf/smoke
check_out lab.smoke.map_offloaded "offloaded_to $SMOKE_IF" bpftool map show name smoke_map

# Attach in HW mode and read the mode back from the kernel (netlink: IFLA_XDP_ATTACHED = HW).
check_ok lab.smoke.attach_hw ip link set dev "$SMOKE_IF" xdpoffload pinned /sys/fs/bpf/smoke
check_out lab.smoke.attached_hw 'xdpoffload' ip -d link show dev "$SMOKE_IF"
check_out lab.smoke.net_show "$SMOKE_IF\([0-9]+\) offload id [0-9]+" bpftool net show dev "$SMOKE_IF"

# Entries in the offloaded map: netdevsim holds 2, a third is refused with E2BIG.
check_ok lab.smoke.map_update_1 bpftool map update name smoke_map key 1 0 0 0 value 7 0 0 0 0 0 0 0
check_ok lab.smoke.map_update_2 bpftool map update name smoke_map key 2 0 0 0 value 8 0 0 0 0 0 0 0
check_fails lab.smoke.map_full 'Argument list too long|E2BIG' \
	bpftool map update name smoke_map key 3 0 0 0 value 9 0 0 0 0 0 0 0
check_out lab.smoke.map_dump 'Found 2 elements' bpftool map dump name smoke_map
check_ok lab.smoke.map_delete bpftool map delete name smoke_map key 1 0 0 0

# Detach and unpin: nothing of the program is left on the device.
check_ok lab.smoke.detach ip link set dev "$SMOKE_IF" xdpoffload off
check_no_out lab.smoke.detached 'xdpoffload' ip -d link show dev "$SMOKE_IF"
rm -f /sys/fs/bpf/smoke
check_no_out lab.smoke.gone 'smoke_xdp' bpftool prog show

# Fault injection: the device's verifier refuses → the load fails with EOPNOTSUPP.
echo N > "$(nsim_dbg 1)/bpf_bind_verifier_accept"
check_fails lab.smoke.verifier_refuses 'BPF_PROG_LOAD.*(not supported|Unknown error 524)' \
	offload-smoke "$SMOKE_IF" /sys/fs/bpf/smoke2
echo Y > "$(nsim_dbg 1)/bpf_bind_verifier_accept"
# The device refuses map allocation → map creation fails.
echo N > "$(nsim_dbg 1)/ports/0/bpf_map_accept"
check_fails lab.smoke.map_refused 'BPF_MAP_CREATE' offload-smoke "$SMOKE_IF" /sys/fs/bpf/smoke3
echo Y > "$(nsim_dbg 1)/ports/0/bpf_map_accept"
# The port refuses HW attach → ip reports the driver's extack message.
echo N > "$(nsim_dbg 1)/ports/0/bpf_xdpoffload_accept"
offload-smoke "$SMOKE_IF" /sys/fs/bpf/smoke4 >/dev/null
check_fails lab.smoke.attach_refused 'XDP offload disabled in DebugFS' \
	ip link set dev "$SMOKE_IF" xdpoffload pinned /sys/fs/bpf/smoke4
echo Y > "$(nsim_dbg 1)/ports/0/bpf_xdpoffload_accept"
rm -f /sys/fs/bpf/smoke4
nsim_del 1
