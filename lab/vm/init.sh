#!/bin/sh
# /init of the offload lab VM (runs as PID 1 under busybox sh).
#
# Mounts what the checks need, then runs every scenario script in /lab/scenarios (in name order)
# and reports each check on the serial console as one marker line that the host parses:
#
#   @@LAB info KEY VALUE...            facts about the guest (kernel, timings)
#   @@LAB begin NAME                   a check starts; its output follows, indented
#   @@LAB result NAME pass|fail|skip DETAIL...
#   @@LAB done                         every scenario ran (missing → the guest crashed or hung)
#
# The guest then powers off with `reboot -f` (QEMU runs with -no-reboot, so that ends it).
# Nothing here decides what a scenario means: the scenario scripts hold the checks.

# /usr/sbin first: busybox installs its own `ip` applet in /bin, which would shadow iproute2.
export PATH=/lab/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C LC_ALL=C
# offloadctl inside the VM: no colours, plain logs.
export NO_COLOR=1 RUST_BACKTRACE=1

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /sys/fs/bpf
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null   # already there with DEVTMPFS_MOUNT
# /tmp is not a fresh tmpfs: mirrored host directories (a checkout under /tmp, as CI uses)
# live there, and the initramfs root is writable already.
/bin/busybox mount -t tmpfs tmpfs /run
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug
/bin/busybox mount -t bpf bpf /sys/fs/bpf
/bin/busybox --install -s /bin 2>/dev/null
# busybox's sh runs its own applets before searching PATH, and it has an `ip` applet: route
# `ip` to iproute2 explicitly (programs that exec `ip` find /usr/sbin/ip first in PATH).
ip() { /usr/sbin/ip "$@"; }
ip link set lo up 2>/dev/null

echo "@@LAB info kernel $(uname -r)"
echo "@@LAB info uptime_at_init $(cut -d' ' -f1 /proc/uptime)"

LAB_FAILS=0
# Settings from the host (e.g. LAB_GUEST_TEST_TIMEOUT).
[ -f /lab/env ] && . /lab/env

# lab_begin NAME / lab_result NAME OUTCOME DETAIL: the raw markers.
lab_begin() { echo "@@LAB begin $1"; LAB_T0=$(cut -d' ' -f1 /proc/uptime); }
lab_result() {
	name=$1; outcome=$2; shift 2
	[ "$outcome" = fail ] && LAB_FAILS=$((LAB_FAILS + 1))
	echo "@@LAB result $name $outcome $*"
	echo "@@LAB time $name $(awk -v a="$LAB_T0" '{printf "%.2f", $1 - a}' /proc/uptime)"
}

# lab_run CMD...: run a command; its output goes to the console as it comes (indented) and is
# kept in $LAB_OUT; sets LAB_RC. $LAB_TIMEOUT (seconds, for external commands only) kills a
# command that hangs, so one stuck check does not cost the whole run.
lab_run() {
	echo "\$ $*"
	: > /tmp/lab.out
	if [ -n "$LAB_TIMEOUT" ]; then
		{ timeout -s KILL "$LAB_TIMEOUT" "$@" 2>&1; echo $? > /tmp/lab.rc; } | tee /tmp/lab.out | sed 's/^/    /'
	else
		{ "$@" 2>&1; echo $? > /tmp/lab.rc; } | tee /tmp/lab.out | sed 's/^/    /'
	fi
	LAB_RC=$(cat /tmp/lab.rc)
	LAB_OUT=$(cat /tmp/lab.out)
	echo "    (exit $LAB_RC)"
	return "$LAB_RC"
}

# check_ok NAME CMD...: passes when CMD exits 0.
check_ok() {
	name=$1; shift
	lab_begin "$name"
	if lab_run "$@"; then lab_result "$name" pass; else lab_result "$name" fail "exit $LAB_RC: $*"; fi
}

# check_out NAME REGEX CMD...: passes when CMD exits 0 and its output matches REGEX (grep -E).
check_out() {
	name=$1; re=$2; shift 2
	lab_begin "$name"
	if ! lab_run "$@"; then lab_result "$name" fail "exit $LAB_RC: $*"
	elif printf '%s\n' "$LAB_OUT" | grep -Eq -- "$re"; then lab_result "$name" pass
	else lab_result "$name" fail "output does not match /$re/"; fi
}

# check_no_out NAME REGEX CMD...: passes when CMD exits 0 and its output does NOT match REGEX.
check_no_out() {
	name=$1; re=$2; shift 2
	lab_begin "$name"
	if ! lab_run "$@"; then lab_result "$name" fail "exit $LAB_RC: $*"
	elif printf '%s\n' "$LAB_OUT" | grep -Eq -- "$re"; then lab_result "$name" fail "output matches /$re/"
	else lab_result "$name" pass; fi
}

# check_fails NAME REGEX CMD...: passes when CMD exits non-zero and its output matches REGEX
# (a refusal must say why, not just fail).
check_fails() {
	name=$1; re=$2; shift 2
	lab_begin "$name"
	if lab_run "$@"; then lab_result "$name" fail "succeeded, expected a refusal matching /$re/"
	elif printf '%s\n' "$LAB_OUT" | grep -Eq -- "$re"; then lab_result "$name" pass
	else lab_result "$name" fail "exit $LAB_RC but output does not match /$re/"; fi
}

# check_prev NAME REGEX: passes when the output of the previous command matches REGEX (several
# facts of one command's output without running it again).
check_prev() {
	name=$1; re=$2
	lab_begin "$name"
	echo "(output of the previous command)"
	if printf '%s\n' "$LAB_OUT" | grep -Eq -- "$re"; then lab_result "$name" pass
	else lab_result "$name" fail "previous output does not match /$re/"; fi
}

# check_skip NAME REASON: a check that cannot run in this build (reported, not failed).
check_skip() { lab_begin "$1"; n=$1; shift; lab_result "$n" skip "$*"; }

# has_subcommand NAME: offloadctl's --help lists subcommand NAME.
has_subcommand() { offloadctl --help 2>/dev/null | grep -Eq "^  $1( |$)"; }

# nsim_new ID PORTS: create netdevsim device ID with PORTS ports; prints its interface names.
nsim_new() {
	echo "$1 $2" > /sys/bus/netdevsim/new_device || return 1
	for n in /sys/bus/netdevsim/devices/netdevsim$1/net/*; do
		[ -e "$n" ] && basename "$n"
	done
}
# nsim_del ID: remove netdevsim device ID (and everything bound to its ports).
nsim_del() { echo "$1" > /sys/bus/netdevsim/del_device; }
# nsim_dbg ID: netdevsim device ID's debugfs directory (fault-injection knobs).
nsim_dbg() { echo /sys/kernel/debug/netdevsim/netdevsim$1; }

for s in /lab/scenarios/*.sh; do
	[ -f "$s" ] || continue
	echo "@@LAB info scenario $(basename "$s" .sh)"
	. "$s"
done

echo "@@LAB info uptime_at_end $(cut -d' ' -f1 /proc/uptime)"
echo "@@LAB info failed_checks $LAB_FAILS"
echo "@@LAB done"
sync
reboot -f
