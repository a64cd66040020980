// SPDX-License-Identifier: GPL-2.0
/* A rule-by-rule linear scan over ternary rules on ipv4.src, for contrast
 * with offload's tuple-space search in the benchmark (benches/ebpf_speed.rs).
 *
 * One ARRAY element holds every rule, sorted by priority (highest first);
 * the first rule whose (src & mask) == value decides: drop. No match: pass.
 * Parsing is the same as the generated program's (parse.h), so the two
 * differ only in how the table is searched.
 * Build: clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c linear_scan.c
 */
#include "parse.h"

#define MAX_RULES 2048

struct rule {
	__u32 value; /* network order, already masked */
	__u32 mask;  /* network order */
};
struct rules {
	__u32 n;
	__u32 pad;
	struct rule r[MAX_RULES];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct rules);
	__uint(max_entries, 1);
} rules SEC(".maps");

SEC("xdp")
int linear_scan(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct parsed p;

	parse(data, end, &p);
	if (!p.ip)
		return XDP_PASS;
	struct rules *rs = bpf_map_lookup_elem(&rules, &zero);
	if (!rs)
		return XDP_PASS;
	__u32 src = p.ip->saddr;
	__u32 n = rs->n;
	for (__u32 i = 0; i < MAX_RULES; i++) {
		if (i >= n)
			break;
		if ((src & rs->r[i].mask) == rs->r[i].value)
			return XDP_DROP;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
