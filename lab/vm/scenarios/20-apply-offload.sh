# offloadctl apply / status / entries / replace / detach on netdevsim, and exact refusals through
# netdevsim's debugfs knobs. What the kernel reports (ip, bpftool) is the judge, not what
# offloadctl says it did. netdevsim never runs the program on packets: control path only.

# nothing_left NAME: no program, no map, no pin anywhere (the guest runs nothing else).
nothing_left() {
	check_no_out "$1.no_programs" '^[0-9]+: ' bpftool prog show
	check_no_out "$1.no_maps" '^[0-9]+: ' bpftool map show
	check_no_out "$1.no_pins" '.' find /sys/fs/bpf -type f
	check_no_out "$1.not_attached" 'xdp' ip -d link show dev "$AP_IF"
}
# host_maps: maps of the deployed program that are NOT on the device (must print nothing).
host_maps() { bpftool map show | grep -E '^[0-9]+: ' | grep -v "offloaded_to $AP_IF" || true; }
# dev_entries: "Found N elements" of the table's HASH map on the device, read by bpftool.
dev_entries() {
	id=$(bpftool map show | sed -n "s/^\([0-9]*\): hash .*offloaded_to $AP_IF.*/\1/p" | head -1)
	[ -n "$id" ] && bpftool map dump id "$id" | tail -1
}
# offloaded_progs: how many programs the kernel holds offloaded to the device.
offloaded_progs() { bpftool prog show | grep -c "offloaded_to $AP_IF" || true; }

AP_IF=$(nsim_new 3 1)
DBG=$(nsim_dbg 3)

if has_subcommand apply && has_subcommand detach; then
	# --- auto with the default (batch) map writes; whatever happens, nothing half-applied ---
	check_out apply.auto 'running in offload mode' offloadctl apply /lab/modules/drop-fit.toml --on "$AP_IF"
	offloadctl detach >/dev/null 2>&1
	nothing_left apply.auto

	# --- again, for the rest of the path (offloaded maps have no batch operations: the kernel
	# answers ENOTSUPP and offloadctl must write and read them one element at a time) ---
	check_out apply.offload 'running in offload mode' \
		offloadctl apply /lab/modules/drop-fit.toml --on "$AP_IF"
	check_out apply.hw_mode 'xdpoffload' ip -d link show dev "$AP_IF"
	check_out apply.prog_offloaded "offloaded_to $AP_IF" bpftool prog show
	check_out apply.maps_offloaded "offloaded_to $AP_IF" bpftool map show
	check_no_out apply.no_host_maps '.' host_maps
	check_out apply.one_program '^1$' offloaded_progs

	if has_subcommand status; then
		check_out status.reads_offload 'offload' offloadctl status
		check_prev status.names_iface "$AP_IF"
		check_out status.json '"expected_mode": "offload"' offloadctl status --json
		# "observed": ["offload", {id, name, tag}] — the mode the kernel reports.
		check_prev status.json_observed '^ *"offload",$' 
	fi

	if has_subcommand entries; then
		check_out entries.initial '10\.0\.0\.1' offloadctl entries list
		check_out entries.on_device 'Found 1 element' dev_entries
		check_ok entries.add offloadctl entries add --table blocklist --match ipv4.src=10.0.0.2 --action deny
		check_out entries.listed '10\.0\.0\.2' offloadctl entries list
		check_no_out entries.read_back 'cannot read|drift' offloadctl entries list
		check_out entries.add_on_device 'Found 2 elements' dev_entries
		# blocklist has size 2 (netdevsim's limit): a third entry is refused, nothing changes.
		check_fails entries.third_refused '.' offloadctl entries add --table blocklist --match ipv4.src=10.0.0.3 --action deny
		check_no_out entries.third_absent '10\.0\.0\.3' offloadctl entries list
		check_ok entries.del offloadctl entries del --table blocklist --match ipv4.src=10.0.0.2
		check_no_out entries.deleted '10\.0\.0\.2' offloadctl entries list
		check_out entries.del_on_device 'Found 1 element' dev_entries
		check_out entries.json '10\.0\.0\.1' offloadctl entries list --json
	fi

	# --- replacement by a new version: still offloaded, one program, old one gone ---
	OLD_ID=$(bpftool prog show | sed -n "s/^\([0-9]*\): .*offloaded_to $AP_IF.*/\1/p" | head -1)
	check_out replace.apply 'running in offload mode' \
		offloadctl apply /lab/modules/drop-fit-v2.toml --on "$AP_IF"
	check_out replace.hw_mode 'xdpoffload' ip -d link show dev "$AP_IF"
	check_out replace.one_program '^1$' offloaded_progs
	check_no_out replace.old_gone "^$OLD_ID: " bpftool prog show
	check_no_out replace.no_host_maps '.' host_maps
	has_subcommand entries && check_out replace.new_entries 'bounce' offloadctl entries list

	# --- detach leaves nothing ---
	check_ok detach.run offloadctl detach
	nothing_left detach

	# --- a module with counters: its counter map must be offloadable too, and readable ---
	check_out counters.apply 'running in offload mode' \
		offloadctl apply /lab/modules/acl-fit.toml --on "$AP_IF"
	check_out counters.hw_mode 'xdpoffload' ip -d link show dev "$AP_IF"
	check_no_out counters.no_host_maps '.' host_maps
	has_subcommand entries && check_out counters.readable '[0-9]+ pkts' offloadctl entries list
	check_ok counters.detach offloadctl detach
	nothing_left counters

	# --- refusals: the device's verifier says no → auto falls back to xdp-native, says why ---
	echo N > "$DBG/bpf_bind_verifier_accept"
	check_out refuse.verifier_fallback 'running in native mode' \
		offloadctl apply /lab/modules/drop-fit.toml --on "$AP_IF"
	check_prev refuse.verifier_reason '(not supported|EOPNOTSUPP|ENOTSUPP|524|95)'
	check_out refuse.native_attached 'prog/xdp' ip -d link show dev "$AP_IF"
	check_no_out refuse.not_hw 'xdpoffload' ip -d link show dev "$AP_IF"
	check_ok refuse.detach offloadctl detach
	# --mode offload (forced): fails with the kernel's answer, nothing half-applied.
	check_fails refuse.forced_offload '(not supported|EOPNOTSUPP|ENOTSUPP|524|95)' \
		offloadctl apply /lab/modules/drop-fit.toml --on "$AP_IF" --mode offload
	nothing_left refuse.forced_offload
	echo Y > "$DBG/bpf_bind_verifier_accept"

	# The device refuses its maps.
	echo N > "$DBG/ports/0/bpf_map_accept"
	check_fails refuse.maps '(not supported|EOPNOTSUPP|ENOTSUPP|524|95|map)' \
		offloadctl apply /lab/modules/drop-fit.toml --on "$AP_IF" --mode offload
	nothing_left refuse.maps
	echo Y > "$DBG/ports/0/bpf_map_accept"

	# The port refuses the HW attach (program and maps were created on the device first).
	echo N > "$DBG/ports/0/bpf_xdpoffload_accept"
	check_fails refuse.attach '(XDP offload disabled in DebugFS|not supported|EOPNOTSUPP)' \
		offloadctl apply /lab/modules/drop-fit.toml --on "$AP_IF" --mode offload
	nothing_left refuse.attach
	echo Y > "$DBG/ports/0/bpf_xdpoffload_accept"

	# A module that does not fit (LPM) cannot be forced onto the device.
	check_fails refuse.lpm_forced 'uses lpm' offloadctl apply /lab/modules/lpm-nofit.toml --on "$AP_IF" --mode offload
	nothing_left refuse.lpm_forced
else
	check_skip apply.auto "offloadctl has no apply/detach subcommands yet"
fi
nsim_del 3
