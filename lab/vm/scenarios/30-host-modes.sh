# The guest as an older kernel (6.1): offloadctl's host fallbacks — XDP native, XDP generic and
# tc — on a veth pair, read back from the kernel, then detached without leftovers.

if has_subcommand apply && has_subcommand detach; then
	ip link add vlab0 type veth peer name vlab1
	ip link set vlab0 up
	ip link set vlab1 up
	for mode in native generic tc; do
		case $mode in
			native) seen='prog/xdp ' ;;
			generic) seen='xdpgeneric' ;;
			tc) seen='' ;;
		esac
		check_out "host.$mode.apply" "running in $mode mode" \
			offloadctl apply /lab/modules/drop-fit.toml --on vlab0 --mode "$mode"
		if [ -n "$seen" ]; then
			check_out "host.$mode.kernel_mode" "$seen" ip -d link show dev vlab0
		else
			check_out "host.$mode.kernel_mode" 'vlab0\([0-9]+\) clsact/ingress' bpftool net show dev vlab0
		fi
		check_out "host.$mode.prog_name" 'name lab_drop' bpftool prog show
		check_out "host.$mode.status" "vlab0 +$mode" offloadctl status
		check_ok "host.$mode.detach" offloadctl detach
		check_no_out "host.$mode.no_programs" '^[0-9]+: ' bpftool prog show
		check_no_out "host.$mode.no_pins" '.' find /sys/fs/bpf -type f
	done
	ip link del vlab0
else
	check_skip host.native.apply "offloadctl has no apply/detach subcommands yet"
fi
