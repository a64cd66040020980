# The "older kernel" measurements: test executables the host passed in (`offloadctl lab vm
# --guest-test PATH[::ARGS]`, tests/vm_lab.rs passes the kernel tests of this workspace) run
# here on 6.1 as root with OFFLOAD_REQUIRE_KERNEL_TESTS=1, so a test that would skip fails.
# One check per executable (its exit status, with its output) and one per test it reports.

for t in /lab/tests/*; do
	case "$t" in *.args) continue ;; esac
	[ -f "$t" ] || continue
	kt=$(basename "$t")
	lab_begin "kt.$kt"
	# shellcheck disable=SC2046 # the arguments are split on purpose
	OFFLOAD_REQUIRE_KERNEL_TESTS=1 LAB_TIMEOUT=${LAB_GUEST_TEST_TIMEOUT:-600} \
		lab_run "$t" --test-threads=1 $(cat "$t.args" 2>/dev/null)
	if [ "$LAB_RC" = 0 ]; then lab_result "kt.$kt" pass
	elif [ "$LAB_RC" = 137 ]; then lab_result "kt.$kt" fail "killed after ${LAB_GUEST_TEST_TIMEOUT:-600} s (hung?)"
	else lab_result "kt.$kt" fail "exit $LAB_RC"; fi
	printf '%s\n' "$LAB_OUT" | sed -n 's/^test \(.*\) \.\.\. \(ok\|FAILED\|ignored\)$/\1 \2/p' |
		while read -r tn res; do
			case "$res" in ok) o=pass ;; FAILED) o=fail ;; *) o=skip ;; esac
			lab_begin "kt.$kt.$tn"
			[ "$o" = skip ] && lab_result "kt.$kt.$tn" skip "ignored" || lab_result "kt.$kt.$tn" $o
		done
done
