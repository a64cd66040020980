/* Header parsing shared by the hand-written benchmark programs.
 *
 * The same rules as offload's generated parser (offload_core::semantics):
 * Ethernet needs 14 bytes; up to two 802.1Q/802.1ad tags, each only if the
 * tag and the next EtherType are complete; IPv4 needs 20 bytes, version 4,
 * IHL >= 5 and IHL * 4 bytes present; no L4 behind a non-first fragment;
 * TCP needs 20 bytes and data offset >= 5, UDP 8 bytes. IPv6 is not parsed:
 * neither benchmark program has a table or action that reads it, so a
 * hand-written program would not look at it either.
 */
#ifndef BENCH_PARSE_H
#define BENCH_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct parsed {
	struct ethhdr *eth;  /* NULL: no Ethernet header */
	struct iphdr *ip;    /* NULL: no valid IPv4 header */
	void *l4;            /* NULL: no valid TCP/UDP header (ports at +0/+2) */
};

static __always_inline int is_vlan(__u16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

static __always_inline void parse(void *data, void *end, struct parsed *p)
{
	p->eth = NULL;
	p->ip = NULL;
	p->l4 = NULL;
	if (data + ETH_HLEN > end)
		return;
	p->eth = data;
	__u16 proto = p->eth->h_proto;
	__u32 l3 = ETH_HLEN;
	if (is_vlan(proto) && data + 18 <= end) {
		l3 = 18;
		proto = *(__u16 *)(data + 16);
		if (is_vlan(proto) && data + 22 <= end) {
			l3 = 22;
			proto = *(__u16 *)(data + 20);
		}
	}
	if (proto != bpf_htons(ETH_P_IP))
		return;
	struct iphdr *ip = data + l3;
	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
		return;
	void *l4 = (void *)ip + ip->ihl * 4;
	if (l4 > end)
		return;
	p->ip = ip;
	if (ip->frag_off & bpf_htons(0x1fff))
		return;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *t = l4;
		if ((void *)(t + 1) <= end && t->doff >= 5)
			p->l4 = l4;
	} else if (ip->protocol == IPPROTO_UDP) {
		if (l4 + sizeof(struct udphdr) <= end)
			p->l4 = l4;
	}
}

#endif
