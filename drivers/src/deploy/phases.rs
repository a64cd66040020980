//! Where an `apply` spends its time, phase by phase (summed over the
//! interfaces it prepares), so `apply` and the benchmarks can say which
//! part of a deployment is the kernel's and which is ours.

use std::time::{Duration, Instant};

/// Milliseconds per phase, in the order phases first ran.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PhaseTimes(pub Vec<(&'static str, f64)>);

impl PhaseTimes {
    /// Adds `d` to `name` (a phase that runs once per interface sums).
    pub fn add(&mut self, name: &'static str, d: Duration) {
        let ms = d.as_secs_f64() * 1e3;
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += ms,
            None => self.0.push((name, ms)),
        }
    }

    /// Runs `f`, adding its time to `name`.
    pub fn time<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let t0 = Instant::now();
        let r = f();
        self.add(name, t0.elapsed());
        r
    }

    /// `name 1.2 ms, other 3.4 ms`.
    pub fn line(&self) -> String {
        self.0
            .iter()
            .map(|(n, ms)| format!("{n} {ms:.1} ms"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_sum_by_name_in_first_run_order() {
        let mut p = PhaseTimes::default();
        p.add("compile", Duration::from_millis(2));
        p.add("load: verify", Duration::from_millis(5));
        p.add("compile", Duration::from_millis(3));
        assert_eq!(p.0, vec![("compile", 5.0), ("load: verify", 5.0)]);
        assert_eq!(p.line(), "compile 5.0 ms, load: verify 5.0 ms");
        let v = p.time("fill", || 7);
        assert_eq!(v, 7);
        assert_eq!(p.0[2].0, "fill");
    }
}
