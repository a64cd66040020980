/*
 * offload-smoke: proves the kernel's BPF hardware-offload control path on a netdevsim device,
 * independently of offloadctl (so a lab failure can be told apart from an offloadctl bug).
 *
 *   offload-smoke IFNAME PIN_PATH
 *
 * Creates a HASH map on the device (map_ifindex; key u32, value u64, 2 entries, no BTF — the
 * kernel refuses BTF for offloaded maps), loads a tiny XDP program bound to the device
 * (prog_ifindex) that looks a key up in that map and returns XDP_PASS, and pins the program at
 * PIN_PATH so `ip link set dev IFNAME xdpoffload pinned PIN_PATH` can attach it in HW mode.
 * Prints "map_id=N prog_id=M" on success; on failure prints the failing step and errno and
 * exits 1. Built statically by the lab (gcc -static), so the guest needs no libraries for it.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static unsigned int obj_id(int fd, int is_prog)
{
	union bpf_attr attr;
	struct bpf_prog_info pinfo;
	struct bpf_map_info minfo;
	memset(&attr, 0, sizeof(attr));
	attr.info.bpf_fd = fd;
	if (is_prog) {
		memset(&pinfo, 0, sizeof(pinfo));
		attr.info.info_len = sizeof(pinfo);
		attr.info.info = (unsigned long)&pinfo;
	} else {
		memset(&minfo, 0, sizeof(minfo));
		attr.info.info_len = sizeof(minfo);
		attr.info.info = (unsigned long)&minfo;
	}
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr))
		return 0;
	return is_prog ? pinfo.id : minfo.id;
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s IFNAME PIN_PATH\n", argv[0]);
		return 2;
	}
	unsigned int ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "offload-smoke: no interface %s: %s\n", argv[1], strerror(errno));
		return 1;
	}

	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_HASH;
	attr.key_size = 4;
	attr.value_size = 8;
	attr.max_entries = 2;
	attr.map_ifindex = ifindex;
	strncpy(attr.map_name, "smoke_map", sizeof(attr.map_name) - 1);
	int map_fd = sys_bpf(BPF_MAP_CREATE, &attr);
	if (map_fd < 0) {
		fprintf(stderr, "offload-smoke: BPF_MAP_CREATE with map_ifindex=%u: %s\n", ifindex, strerror(errno));
		return 1;
	}

	/* *(u32 *)(fp-4) = 0; r0 = lookup(map, fp-4); return XDP_PASS */
	struct bpf_insn prog[] = {
		INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0),
		INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
		INSN(0, 0, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_PASS),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	static char log[65536];
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_XDP;
	attr.insns = (unsigned long)prog;
	attr.insn_cnt = sizeof(prog) / sizeof(prog[0]);
	attr.license = (unsigned long)"GPL";
	attr.prog_ifindex = ifindex;
	attr.log_buf = (unsigned long)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	strncpy(attr.prog_name, "smoke_xdp", sizeof(attr.prog_name) - 1);
	int prog_fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (prog_fd < 0) {
		int e = errno;
		fprintf(stderr, "offload-smoke: BPF_PROG_LOAD with prog_ifindex=%u: %s\n%s\n", ifindex, strerror(e), log);
		return 1;
	}

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (unsigned long)argv[2];
	attr.bpf_fd = prog_fd;
	if (sys_bpf(BPF_OBJ_PIN, &attr)) {
		fprintf(stderr, "offload-smoke: BPF_OBJ_PIN %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	printf("map_id=%u prog_id=%u\n", obj_id(map_fd, 0), obj_id(prog_fd, 1));
	return 0;
}
