# Split placement on netdevsim (issue 14): the planner's NIC prefix offloaded (XDP HW mode), the
# rest in XDP driver mode on the same interface, two programs side by side; entries go to the
# half that holds their table; status merges the halves' counters; detach leaves nothing. The
# kernel (ip, bpftool) is the judge. netdevsim never runs programs on packets: the counter read
# path is checked by writing an offloaded counter element with bpftool and reading it back
# merged into the module's table.

SP_IF=$(nsim_new 4 1)
# split_nothing_left NAME: no program, map, pin or XDP attachment is left.
split_nothing_left() {
	check_no_out "$1.no_programs" '^[0-9]+: ' bpftool prog show
	check_no_out "$1.no_maps" '^[0-9]+: ' bpftool map show
	check_no_out "$1.no_pins" '.' find /sys/fs/bpf -type f
	check_no_out "$1.not_attached" 'xdp' ip -d link show dev "$SP_IF"
}

if has_subcommand apply && offloadctl apply --help | grep -q 'split'; then
	check_out split.plan 'split proposed: the first 2 of 3 stages in the NIC' \
		offloadctl plan /lab/modules/split-fit.toml --on "$SP_IF"
	check_prev split.plan_reason 'uses lpm'
	check_out split.apply 'nic half of lab-split \(blocklist, proto\) running in offload mode' \
		offloadctl apply /lab/modules/split-fit.toml --on "$SP_IF" --mode split
	check_prev split.apply_host 'host half of lab-split \(routes\) running in native mode'
	# Both hooks hold a program at once: bpftool lists the driver and the offload attachment.
	check_out split.hw_attached "$SP_IF\([0-9]+\) .*offload id [0-9]+" bpftool net show dev "$SP_IF"
	check_prev split.drv_attached "$SP_IF\([0-9]+\) driver id [0-9]+"
	check_out split.nic_prog_offloaded "offloaded_to $SP_IF" bpftool prog show
	# The NIC half's maps are on the device, the host half's (LPM trie) are not.
	check_out split.nic_maps_on_device "offloaded_to $SP_IF" bpftool map show name t1_c_proto
	check_out split.host_lpm_on_host 'lpm_trie' bpftool map show

	check_out split.status 'table routes \(host\): 1 entries' offloadctl status --module lab-split
	check_prev split.status_nic 'table proto \(nic\): 1 entries, 0 packets'
	# A counted packet in the NIC's counter map (entry 0 of proto: 3 packets, 300 bytes),
	# written on the device, comes back merged under the module's table.
	CID=$(bpftool -j map show name t1_c_proto | sed -n 's/^[^0-9]*"id":\([0-9]*\).*/\1/p' | head -1)
	check_ok split.count_on_device bpftool map update id "$CID" key 0 0 0 0 \
		value 3 0 0 0 0 0 0 0 44 1 0 0 0 0 0 0
	check_out split.status_merged 'table proto \(nic\): 1 entries, 3 packets, 300 bytes' \
		offloadctl status --module lab-split
	check_out split.status_json '"half": "nic"' offloadctl status --module lab-split --json

	# Entries go to the half that holds their table.
	check_ok split.entry_nic offloadctl entries --module lab-split add --table blocklist \
		--match ipv4.src=10.0.0.2 --action deny
	check_out split.entry_nic_listed '10\.0\.0\.2' offloadctl entries --module lab-split-nic list
	check_ok split.entry_host offloadctl entries --module lab-split add --table routes \
		--match ipv4.dst=198.51.100.0/24 --action deny
	check_out split.entry_host_listed '198\.51\.100\.0/24' offloadctl entries --module lab-split-host list
	check_out split.entries_both '10\.0\.0\.2' offloadctl entries --module lab-split list
	check_prev split.entries_both_host '198\.51\.100\.0/24'
	# netdevsim's 2-entry limit holds for the NIC half: a third blocklist entry is refused.
	check_fails split.entry_nic_full '.' offloadctl entries --module lab-split add --table blocklist \
		--match ipv4.src=10.0.0.3 --action deny

	check_out split.detach 'detached lab-split' offloadctl detach --module lab-split
	split_nothing_left split.detach
else
	check_skip split.plan "offloadctl has no split placement yet"
fi
nsim_del 4
