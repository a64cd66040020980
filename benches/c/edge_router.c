// SPDX-License-Identifier: GPL-2.0
/* examples/edge-router.toml written by hand in C, for the speed benchmark
 * (benches/ebpf_speed.rs).
 *
 * The maps have offload's names and exactly its layout for this module
 * (offload_ebpf::layout), so the bench writes the same key/value bytes into
 * both programs; it also checks the sizes and types against the layout
 * before it measures anything. The behaviour is the module's:
 *   acl    (IPv4 + TCP/UDP): ternary src, exact proto, range dst port, as a
 *          tuple-space search over the masks array (highest priority wins,
 *          stop once the best hit outranks every remaining mask);
 *          deny -> drop, allow -> next stage;
 *   routes (IPv4): LPM on dst; route -> MACs, dec_ttl (TTL <= 1 goes to the
 *          host), forward via the DEVMAP; deny -> drop; to_host -> pass;
 *   per-entry / default-action counters (packets, bytes);
 *   default verdict pass.
 * Build: clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c edge_router.c
 */
#include "parse.h"

/* Action ids: the module's actions in declaration order. */
#define ACT_DENY 0
#define ACT_ALLOW 1
#define ACT_ROUTE 2
#define ACT_TO_HOST 3

/* The room of the masks and counter arrays: the table sizes by default, or
 * what offload's apply builds for the example's entries (the benchmark
 * passes -DMAX_MASKS=… -DACL_COUNTERS=… -DROUTE_COUNTERS=…). */
#ifndef MAX_MASKS
#define MAX_MASKS 64
#endif
#ifndef ACL_COUNTERS
#define ACL_COUNTERS 1025
#endif
#ifndef ROUTE_COUNTERS
#define ROUTE_COUNTERS 65537
#endif

/* ACL key: ipv4.src (4) | ipv4.protocol (1) | l4.dst_port (2) | pad (1). */
struct acl_key {
	__u32 w[2];
};
/* Entries-map key: mask | key & mask. */
struct acl_probe {
	__u32 mask[2];
	__u32 val[2];
};
struct acl_mask {
	__u32 used;
	__u32 max_prio;
	__u32 mask[2];
};
struct acl_value {
	__u32 action;
	__u32 slot;
	__u32 prio;
	__u32 pad;
};
struct route_key {
	__u32 prefixlen;
	__u32 dst;
};
struct route_value {
	__u32 action;
	__u32 slot;
	__u32 prio;
	__u32 port;
	__u8 dmac[8];
	__u8 smac[8];
};
struct counter {
	__u64 packets;
	__u64 bytes;
};
struct devmap_val {
	__u32 ifindex;
	__u32 prog_fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct acl_probe);
	__type(value, struct acl_value);
	__uint(max_entries, 4096);
} t0_e_acl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct acl_mask);
	__uint(max_entries, MAX_MASKS);
} t0_m_acl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct acl_value);
	__uint(max_entries, 1);
} t0_d_acl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, ACL_COUNTERS);
} t0_c_acl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct route_key);
	__type(value, struct route_value);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} t1_e_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct route_value);
	__uint(max_entries, 1);
} t1_d_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(max_entries, ROUTE_COUNTERS);
} t1_c_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, struct devmap_val);
	__uint(max_entries, 4);
} ports SEC(".maps");

static __always_inline void count(void *map, __u32 slot, __u64 len)
{
	struct counter *c = bpf_map_lookup_elem(map, &slot);
	if (c) {
		c->packets += 1;
		c->bytes += len;
	}
}

/* RFC 1624: the checksum after one 16-bit word changed from `old` to `new`. */
static __always_inline __u16 csum_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int edge_router(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	__u32 zero = 0;
	struct parsed p;

	parse(data, end, &p);
	struct iphdr *ip = p.ip;
	if (!ip)
		return XDP_PASS;

	/* Stage 1: acl. */
	if (p.l4) {
		struct acl_key k = {};
		__u8 *kb = (__u8 *)&k;
		__builtin_memcpy(kb, &ip->saddr, 4);
		kb[4] = ip->protocol;
		__builtin_memcpy(kb + 5, p.l4 + 2, 2);

		struct acl_value *best = NULL;
		__u32 best_prio = 0;
		for (__u32 i = 0; i < MAX_MASKS; i++) {
			__u32 idx = i;
			struct acl_mask *m = bpf_map_lookup_elem(&t0_m_acl, &idx);
			if (!m || !m->used)
				break;
			if (best && best_prio >= m->max_prio)
				break;
			struct acl_probe probe = {
				.mask = { m->mask[0], m->mask[1] },
				.val = { k.w[0] & m->mask[0], k.w[1] & m->mask[1] },
			};
			struct acl_value *v = bpf_map_lookup_elem(&t0_e_acl, &probe);
			if (v && (!best || v->prio > best_prio)) {
				best = v;
				best_prio = v->prio;
			}
		}
		if (!best)
			best = bpf_map_lookup_elem(&t0_d_acl, &zero);
		if (best) {
			count(&t0_c_acl, best->slot, len);
			if (best->action == ACT_DENY)
				return XDP_DROP;
		}
	}

	/* Stage 2: routes. */
	struct route_key rk = { .prefixlen = 32, .dst = ip->daddr };
	struct route_value *r = bpf_map_lookup_elem(&t1_e_routes, &rk);
	if (!r)
		r = bpf_map_lookup_elem(&t1_d_routes, &zero);
	if (!r)
		return XDP_PASS;
	count(&t1_c_routes, r->slot, len);
	switch (r->action) {
	case ACT_ROUTE: {
		struct ethhdr *eth = p.eth;
		__builtin_memcpy(eth->h_dest, r->dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, r->smac, ETH_ALEN);
		if (ip->ttl <= 1)
			return XDP_PASS;
		__u16 old = *(__u16 *)&ip->ttl;
		ip->ttl -= 1;
		ip->check = csum_replace(ip->check, old, *(__u16 *)&ip->ttl);
		return bpf_redirect_map(&ports, r->port, XDP_DROP);
	}
	case ACT_DENY:
		return XDP_DROP;
	case ACT_TO_HOST:
		return XDP_PASS;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
