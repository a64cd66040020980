//! push_vlan / pop_vlan and how later tables see the tag stack.

use super::*;

fn tagged(v: u16) -> Vec<u8> {
    build(eth().single_vlan(vid(v)).ipv4(A4, B4, 64).udp(1, 2))
}

fn untagged() -> Vec<u8> {
    build(eth().ipv4(A4, B4, 64).udp(1, 2))
}

#[test]
fn push_on_untagged_equals_etherparse_tagged() {
    let m = one_action(
        vec![Primitive::PushVlan(Operand::Param(0)), Primitive::Tx],
        &[ParamType::Uint(12)],
        &[100],
    );
    let t = run_traced(&m, IN, &untagged());
    assert_eq!(t.outcome.packet, tagged(100), "TPID 0x8100, PCP 0, DEI 0");
    assert_eq!(t.events[0].effect, Effect::PushVlan { vid: 100 });
    // The VID is masked to 12 bits.
    let m = one_action(vec![Primitive::PushVlan(Operand::Const(0x1005))], &[], &[]);
    assert_eq!(run(&m, IN, &untagged()).packet, tagged(5));
}

#[test]
fn pop_restores_the_untagged_frame() {
    let m = one_action(vec![Primitive::PopVlan, Primitive::Tx], &[], &[]);
    let t = run_traced(&m, IN, &tagged(42));
    assert_eq!(t.outcome.packet, untagged());
    assert_eq!(t.events[0].effect, Effect::PopVlan { vid: 42 });
    let t = run_traced(&m, IN, &untagged());
    assert_eq!(t.outcome.packet, untagged(), "no tag: no-op");
    assert_eq!(t.events[0].effect, Effect::PopVlanIgnored);
}

#[test]
fn push_twice_gives_two_tags_third_is_ignored() {
    let m = one_action(
        vec![
            Primitive::PushVlan(Operand::Const(20)),
            Primitive::PushVlan(Operand::Const(10)),
            Primitive::PushVlan(Operand::Const(5)),
        ],
        &[],
        &[],
    );
    let t = run_traced(&m, IN, &untagged());
    assert_eq!(t.events[2].effect, Effect::PushVlanIgnored { vid: 5 });
    let out = &t.outcome.packet;
    assert_eq!(out.len(), untagged().len() + 8);
    let s = SlicedPacket::from_ethernet(out).unwrap();
    let Some(etherparse::VlanSlice::DoubleVlan(d)) = s.vlan else {
        panic!("two tags")
    };
    assert_eq!(
        d.outer().vlan_identifier().value(),
        10,
        "the last push is outer"
    );
    assert_eq!(d.inner().vlan_identifier().value(), 20);
    assert!(matches!(s.transport, Some(TransportSlice::Udp(_))));
    // On a double-tagged ingress frame, push is a no-op.
    let two = build(eth().double_vlan(vid(1), vid(2)).ipv4(A4, B4, 64).udp(1, 2));
    assert_eq!(run(&m, IN, &two).packet, two);
}

#[test]
fn push_onto_a_qinq_tag_keeps_its_tpid_as_inner_ethertype() {
    let mut one = tagged(7);
    one[12] = 0x88;
    one[13] = 0xa8;
    let m = one_action(vec![Primitive::PushVlan(Operand::Const(9))], &[], &[]);
    let out = run(&m, IN, &one).packet;
    assert_eq!(&out[12..18], &[0x81, 0x00, 0x00, 0x09, 0x88, 0xa8]);
    assert_eq!(&out[16..], &one[12..]);
}

#[test]
fn headers_shift_after_push_and_pop() {
    // push, then rewrite ipv4.dst and a port at their shifted offsets.
    let m = one_action(
        vec![
            Primitive::PushVlan(Operand::Const(3)),
            Primitive::Set {
                field: Field::Ipv4Dst,
                value: Operand::Const(ip4("172.16.0.1")),
            },
            Primitive::Set {
                field: Field::L4DstPort,
                value: Operand::Const(8080),
            },
            Primitive::Set {
                field: Field::VlanPcp,
                value: Operand::Const(6),
            },
        ],
        &[],
        &[],
    );
    let out = run(&m, IN, &untagged()).packet;
    let expect = build(
        eth()
            .vlan(etherparse::VlanHeader::Single(
                etherparse::SingleVlanHeader {
                    pcp: etherparse::VlanPcp::try_new(6).unwrap(),
                    drop_eligible_indicator: false,
                    vlan_id: vid(3),
                    ether_type: etherparse::EtherType(0),
                },
            ))
            .ipv4(A4, [172, 16, 0, 1], 64)
            .udp(1, 8080),
    );
    assert_eq!(out, expect);
    // pop, then rewrite: offsets shift back.
    let m = one_action(
        vec![
            Primitive::PopVlan,
            Primitive::Set {
                field: Field::Ipv4Ttl,
                value: Operand::Const(9),
            },
        ],
        &[],
        &[],
    );
    let out = run(&m, IN, &tagged(8)).packet;
    assert_eq!(out, build(eth().ipv4(A4, B4, 9).udp(1, 2)));
}

#[test]
fn vlan_validity_follows_the_stack() {
    let mut mb = Mb::new(DefaultVerdict::Drop);
    let pop = mb.action("pop", &[], vec![Primitive::PopVlan]);
    let push = mb.action("push", &[], vec![Primitive::PushVlan(Operand::Const(77))]);
    let fwd = mb.action(
        "fwd",
        &[ParamType::Port],
        vec![Primitive::Forward(Operand::Param(0))],
    );
    mb.table(
        &[(Field::MetaInPort, MatchKind::Exact)],
        call(pop, &[]),
        false,
        vec![(vec![KeyMatch::Exact(2)], None, call(push, &[]))],
    );
    mb.table(
        &[(Field::VlanVid, MatchKind::Exact)],
        call(fwd, &[1]),
        false,
        vec![(vec![KeyMatch::Exact(77)], None, call(fwd, &[3]))],
    );
    let m = mb.done();
    // Port 1 pops: the vlan table is then skipped.
    let o = run(&m, PortId(1), &tagged(77));
    assert_eq!(o.verdict, Verdict::Drop);
    assert_eq!(
        o.steps[1],
        Step::Skipped {
            table: TableId(1),
            missing: Header::Vlan
        }
    );
    // Port 2 pushes 77 on an untagged frame: the vlan table now applies.
    let o = run(&m, PortId(2), &untagged());
    assert_eq!(o.verdict, Verdict::Forward(PortId(3)));
    // eth.type still names the payload after a push.
    let p = parse(&untagged());
    let mut pp = p;
    let mut bytes = untagged();
    rewrite::push_vlan(&mut pp, &mut bytes, 1);
    assert_eq!(field_value(&pp, &bytes, IN, Field::EthType), Some(0x0800));
}

#[test]
fn pop_on_three_tags_and_push_on_short_frames() {
    let two = build(
        eth()
            .double_vlan(vid(10), vid(20))
            .ipv4(A4, B4, 64)
            .udp(1, 2),
    );
    let mut three = two[..12].to_vec();
    three.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    three.extend_from_slice(&two[12..]);
    let m = one_action(vec![Primitive::PopVlan], &[], &[]);
    assert_eq!(run(&m, IN, &three).packet, two);
    let push = one_action(vec![Primitive::PushVlan(Operand::Const(1))], &[], &[]);
    let short = [0u8; 13];
    assert_eq!(
        run(&push, IN, &short).packet,
        short.to_vec(),
        "no Ethernet: no-op"
    );
}
