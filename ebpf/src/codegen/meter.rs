//! A metered table's bucket, after the lookup and the counter, before the
//! action runs (the reference: `offload_core::ir::Bucket::offer`).
//!
//! ```text
//! slot = value.slot; if slot == default slot: not metered (a miss)
//! b = lookup(t{N}_r_T, slot)          // shared ARRAY, BTF value with a lock
//! now = clock[0] ?: bpf_ktime_get_ns()
//! bpf_spin_lock(&b->lock)
//!   if now > b->last { e = now - b->last; b->last = now;
//!     b->deficit = e > fill ? 0 : sat_sub(b->deficit, e * rate) }
//!   d = b->deficit + cost; red = d > cap; if !red { b->deficit = d }
//! bpf_spin_unlock(&b->lock)
//! if red: the table's red action (drop / pass / on to the next table)
//! ```
//!
//! Helper calls are not allowed under the lock, so the time is read first
//! and parked in `BEST_PRIO` with the bucket pointer in `BEST` (both free
//! once the lookup is over). Under the lock only loads, stores and ALU.

use super::frame::{BEST, BEST_PRIO, LEN, SCRATCH, VAL};
use super::Gen;
use crate::asm::{AluOp, Helper, JmpOp, Label, Reg::*, Size};
use crate::layout::{
    TableLayout, BUCKET_DEFICIT, BUCKET_LAST, METER_CAP, METER_FILL, METER_RATE, SLOT_OFF,
};
use offload_core::ir::{MeterUnit, RedAction, Table, NANO};

impl Gen<'_> {
    /// Emits the meter of `table` (no-op if it has none); a red packet
    /// jumps to the red action (`end` for `continue`).
    pub(super) fn emit_meter(&mut self, table: &Table, tl: &TableLayout, end: Label) {
        let (Some(meter), Some(map), Some(vo), Some(clock)) = (
            table.meter.as_ref(),
            tl.meters_map.as_ref(),
            tl.value.meter_off,
            self.layout.clock_map.clone(),
        ) else {
            return;
        };
        let vo = vo as i16;
        let done = self.p.label();
        let kt = self.p.label();
        let have = self.p.label();
        let spend = self.p.label();
        let zero = self.p.label();
        let store = self.p.label();
        let unlock = self.p.label();

        // Only an entry's value is metered: the default action's slot is the table size.
        self.p.ldx(Size::DW, R1, R10, VAL);
        self.p.ldx(Size::W, R2, R1, SLOT_OFF as i16);
        self.p.jmp_imm(JmpOp::Eq, R2, tl.default_slot as i32, done);
        self.p.stx(Size::W, R10, SCRATCH, R2);
        self.lookup(map, SCRATCH);
        self.p.jmp_imm(JmpOp::Eq, R0, 0, done);
        self.p.stx(Size::DW, R10, BEST, R0);

        // The time: the clock override if set, else the kernel's.
        self.p.st(Size::W, R10, SCRATCH, 0);
        self.lookup(&clock, SCRATCH);
        self.p.jmp_imm(JmpOp::Eq, R0, 0, kt);
        self.p.ldx(Size::DW, R1, R0, 0);
        self.p.jmp_imm(JmpOp::Ne, R1, 0, have);
        self.p.bind(kt);
        self.p.call(Helper::KtimeGetNs).mov64_reg(R1, R0);
        self.p.bind(have);
        self.p.stx(Size::DW, R10, BEST_PRIO, R1);

        self.p.ldx(Size::DW, R1, R10, BEST);
        self.p.call(Helper::SpinLock);
        self.p.ldx(Size::DW, R0, R10, BEST); // bucket
        self.p.ldx(Size::DW, R1, R10, VAL); // entry value: rate, cap, fill
        self.p.ldx(Size::DW, R2, R10, BEST_PRIO); // now
        self.p.ldx(Size::DW, R3, R0, BUCKET_LAST);
        // Refill: only when the clock moved forward.
        self.p.jmp_reg(JmpOp::Le, R2, R3, spend);
        self.p.stx(Size::DW, R0, BUCKET_LAST, R2);
        self.p.alu64_reg(AluOp::Sub, R2, R3); // elapsed
        self.p.ldx(Size::DW, R3, R1, vo + METER_FILL as i16);
        self.p.jmp_reg(JmpOp::Gt, R2, R3, zero);
        self.p.ldx(Size::DW, R3, R1, vo + METER_RATE as i16);
        self.p.alu64_reg(AluOp::Mul, R2, R3); // ≤ capacity: no overflow
        self.p.ldx(Size::DW, R4, R0, BUCKET_DEFICIT);
        self.p.jmp_reg(JmpOp::Le, R4, R2, zero);
        self.p.alu64_reg(AluOp::Sub, R4, R2);
        self.p.ja(store);
        self.p.bind(zero);
        self.p.mov64_imm(R4, 0);
        self.p.bind(store);
        self.p.stx(Size::DW, R0, BUCKET_DEFICIT, R4);
        self.p.bind(spend);
        // Spend: green iff deficit + cost ≤ capacity.
        self.p.ldx(Size::DW, R4, R0, BUCKET_DEFICIT);
        match meter.unit {
            MeterUnit::Packets => {
                self.p.mov64_imm(R2, NANO as i32);
            }
            MeterUnit::Bytes => {
                self.p.ldx(Size::DW, R2, R10, LEN);
                self.p.alu64_imm(AluOp::Mul, R2, NANO as i32);
            }
        }
        self.p.alu64_reg(AluOp::Add, R4, R2);
        self.p.ldx(Size::DW, R3, R1, vo + METER_CAP as i16);
        self.p.mov64_imm(R5, 1);
        self.p.jmp_reg(JmpOp::Gt, R4, R3, unlock);
        self.p.stx(Size::DW, R0, BUCKET_DEFICIT, R4);
        self.p.mov64_imm(R5, 0);
        self.p.bind(unlock);
        self.p.stx(Size::DW, R10, BEST_PRIO, R5);
        self.p.mov64_reg(R1, R0);
        self.p.call(Helper::SpinUnlock);
        self.p.ldx(Size::DW, R1, R10, BEST_PRIO);
        self.p.jmp_imm(JmpOp::Eq, R1, 0, done);
        match meter.red {
            RedAction::Drop => self.p.ja(self.exits.drop),
            RedAction::Pass => self.p.ja(self.exits.pass),
            RedAction::Continue => self.p.ja(end),
        };
        self.p.bind(done);
        self.p.ldx(Size::DW, R0, R10, VAL);
    }
}
