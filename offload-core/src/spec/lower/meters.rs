//! Meters: a table's `meter = { unit, rate, burst, red }` and an entry's
//! `meter = { rate, burst }` override, checked into [`ir::Meter`] /
//! [`ir::MeterRate`] (see `ir::meter` for what they mean).

use super::*;
use crate::ir::{MeterRate, MeterUnit, RedAction, MAX_METER_VALUE, MIN_BYTES_BURST};

impl Lowerer<'_> {
    /// A table's meter; `Err(())` when it is malformed (already reported).
    pub(super) fn table_meter(
        &mut self,
        m: &MeterAst,
        tname: &str,
        keyless: bool,
    ) -> Result<ir::Meter, ()> {
        let mut ok = true;
        if keyless {
            self.push(
                Diagnostic::new(
                    codes::METER_KEYLESS,
                    format!("table `{tname}` has a meter but no keys"),
                )
                .with_label(m.span, "nothing to meter")
                .with_note("a meter gives each entry a bucket, and a keyless table has no entries (its default action is never metered); add keys, or remove the meter"),
            );
            ok = false;
        }
        let unit = match &m.unit {
            None => MeterUnit::Packets,
            Some(u) => match MeterUnit::from_name(&u.value) {
                Some(u) => u,
                None => {
                    self.push(
                        Diagnostic::new(
                            codes::METER_KIND,
                            format!("unknown meter unit `{}`", u.value),
                        )
                        .with_label(u.span, "not a unit")
                        .with_note("a meter counts `packets` (per second) or `bytes` (per second)"),
                    );
                    ok = false;
                    MeterUnit::Packets
                }
            },
        };
        let red = match &m.red {
            None => RedAction::Drop,
            Some(r) => match RedAction::from_name(&r.value) {
                Some(r) => r,
                None => {
                    self.push(
                        Diagnostic::new(
                            codes::METER_KIND,
                            format!("unknown red action `{}`", r.value),
                        )
                        .with_label(r.span, "not a red action")
                        .with_note("a red packet may `drop`, `pass` (to the host), or `continue` (skip the entry's action, run the next table)"),
                    );
                    ok = false;
                    RedAction::Drop
                }
            },
        };
        let rate = self.meter_rate(m, unit, "the table's");
        match (ok, rate) {
            (true, Some(default)) => Ok(ir::Meter {
                unit,
                default,
                red,
                span: m.span,
            }),
            _ => Err(()),
        }
    }

    /// An entry's own rate: `Ok(None)` when it equals the table's default
    /// (canonical form); `Err(())` when it is malformed or the table has no
    /// meter (reported).
    pub(super) fn entry_meter(&mut self, ti: usize, m: &MeterAst) -> Result<Option<MeterRate>, ()> {
        let t = &self.tables[ti];
        let (tname, meter, broken) = (t.name.clone(), t.meter.clone(), t.meter_broken);
        let Some(meter) = meter else {
            if !broken {
                self.push(
                    Diagnostic::new(
                        codes::METER_WITHOUT_TABLE,
                        format!("entry has a meter, but table `{tname}` has none"),
                    )
                    .with_label(m.span, "the table gives no unit or red action")
                    .with_note(format!(
                        "add `meter = {{ unit = \"packets\", rate = ..., burst = ..., red = \"drop\" }}` to table `{tname}` (its entries' default), or remove this meter"
                    )),
                );
            }
            return Err(());
        };
        // An entry's meter may give only one of the two: the other is the table's.
        let rate = MeterRate {
            rate: m
                .rate
                .as_ref()
                .map_or(meter.default.rate as i64, |r| r.value) as u64,
            burst: m
                .burst
                .as_ref()
                .map_or(meter.default.burst as i64, |b| b.value) as u64,
        };
        let full = MeterAst {
            span: m.span,
            unit: None,
            red: None,
            rate: Some(m.rate.clone().unwrap_or(Sp::new(rate.rate as i64, m.span))),
            burst: Some(
                m.burst
                    .clone()
                    .unwrap_or(Sp::new(rate.burst as i64, m.span)),
            ),
        };
        let r = self
            .meter_rate(&full, meter.unit, "this entry's")
            .ok_or(())?;
        Ok((r != meter.default).then_some(r))
    }

    fn meter_rate(&mut self, m: &MeterAst, unit: MeterUnit, whose: &str) -> Option<MeterRate> {
        let max = MAX_METER_VALUE as i64;
        let rate = match &m.rate {
            None => {
                self.push(
                    Diagnostic::new(codes::METER_RATE, format!("{whose} meter has no `rate`"))
                        .with_label(m.span, "`rate` is missing")
                        .with_note(format!(
                            "add `rate = N`: {} per second, 1..={max}",
                            unit.name()
                        )),
                );
                None
            }
            Some(r) if (1..=max).contains(&r.value) => Some(r.value as u64),
            Some(r) => {
                let why = if r.value == 0 {
                    "a rate of 0 never refills the bucket: use `drop` to block".to_string()
                } else {
                    format!("the rate is {} per second, 1..={max}", unit.name())
                };
                self.push(
                    Diagnostic::new(
                        codes::METER_RATE,
                        format!("meter rate {} is out of range", r.value),
                    )
                    .with_label(r.span, format!("must be 1..={max}"))
                    .with_note(why),
                );
                None
            }
        };
        let min = match unit {
            MeterUnit::Packets => 1,
            MeterUnit::Bytes => MIN_BYTES_BURST as i64,
        };
        let burst = match &m.burst {
            None => {
                self.push(
                    Diagnostic::new(codes::METER_BURST, format!("{whose} meter has no `burst`"))
                        .with_label(m.span, "`burst` is missing")
                        .with_note(format!(
                            "add `burst = N`: the bucket's size in {}, {min}..={max}",
                            unit.name()
                        )),
                );
                None
            }
            Some(b) if (min..=max).contains(&b.value) => Some(b.value as u64),
            Some(b) => {
                let why = match unit {
                    MeterUnit::Packets => format!("a bucket holds 1..={max} packets: below one packet nothing ever passes"),
                    MeterUnit::Bytes => format!("a bytes bucket must hold at least one full-size frame ({MIN_BYTES_BURST} bytes: 1500-byte MTU, Ethernet header, one VLAN tag), at most {max}; a larger frame than the burst is always red"),
                };
                self.push(
                    Diagnostic::new(
                        codes::METER_BURST,
                        format!("meter burst {} is out of range", b.value),
                    )
                    .with_label(b.span, format!("must be {min}..={max}"))
                    .with_note(why),
                );
                None
            }
        };
        Some(MeterRate {
            rate: rate?,
            burst: burst?,
        })
    }
}
