# offloadctl probe and plan on netdevsim, on a 6.1 kernel: it has no netdev generic-netlink
# family (xdp-features came in 6.3), so offload capability must come from the hwdb (driver
# netdevsim) and a trial load bound to the device, and the probe must say so.

PP_IF=$(nsim_new 2 1)
if has_subcommand probe; then
	check_out probe.runs "^$PP_IF " offloadctl probe
	# DEVICE CLASS DRIVER PCI NATIVE REDIRECT OFFLOAD: netdevsim, offload yes.
	check_prev probe.netdevsim_offload "^$PP_IF +netdevsim +netdevsim +[^ ]+ +[^ ]+ +[^ ]+ +yes "
	check_prev probe.says_no_xdp_features 'netdev xdp-features no \(kernel < 6\.3'
	check_prev probe.offload_from_hwdb 'xdp hw-offload: yes +\[hwdb'
	check_prev probe.trial_load 'offload trial load: loaded'
	check_no_out probe.left_nothing_attached 'xdp' ip -d link show dev "$PP_IF"
	check_no_out probe.left_no_program 'xdp' bpftool prog show
	check_out probe.json '"netdev_family"' offloadctl probe --json
else
	check_skip probe.runs "offloadctl has no probe subcommand yet"
fi

if has_subcommand plan; then
	check_out plan.fit_offload '^ *-> xdp-offload' offloadctl plan /lab/modules/acl-fit.toml --on "$PP_IF"
	check_out plan.lpm_not_offloaded '^ *-> xdp-native' offloadctl plan /lab/modules/lpm-nofit.toml --on "$PP_IF"
	check_prev plan.lpm_reason 'table routes uses lpm'
	check_out plan.redirect_not_offloaded 'rejected xdp-offload' offloadctl plan /lab/modules/redirect-nofit.toml --on "$PP_IF"
	check_prev plan.redirect_reason 'forwards to another port'
	check_out plan.size_not_offloaded '^ *-> xdp-native' offloadctl plan /lab/modules/big-nofit.toml --on "$PP_IF"
	check_prev plan.size_reason 'need 3 entries.*at most 2'
	check_out plan.json '"chosen": "xdp-offload"' offloadctl plan /lab/modules/acl-fit.toml --on "$PP_IF" --json
	check_fails plan.strict_refuses 'refused \(--strict\)' offloadctl plan /lab/modules/lpm-nofit.toml --on "$PP_IF" --strict
else
	check_skip plan.fit_offload "offloadctl has no plan subcommand yet"
fi
nsim_del 2
