//! A target in memory for the state model's tests: it holds a running
//! version and its tables, and fails where a test tells it to.

use super::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Running {
    pub digest: String,
    pub tables: BTreeMap<String, TableObserved>,
}

#[derive(Debug, Default)]
pub struct FakeTarget {
    pub id: String,
    pub running: Option<Running>,
    pub previous: Option<Option<Running>>,
    pub prepared: Option<Running>,
    pub fail_prepare: bool,
    pub fail_commit: bool,
    /// Fail the n-th write_entries call (0-based) from now.
    pub fail_write_at: Option<usize>,
    pub writes: usize,
    pub log: Vec<String>,
    /// Something else runs here.
    pub foreign: bool,
}

impl FakeTarget {
    pub fn new(id: &str) -> FakeTarget {
        FakeTarget {
            id: id.into(),
            ..Default::default()
        }
    }
    pub fn running_digest(&self) -> Option<&str> {
        self.running.as_ref().map(|r| r.digest.as_str())
    }
}

fn tables_of(d: &Desired) -> BTreeMap<String, TableObserved> {
    d.tables
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                TableObserved {
                    entries: t.entries.clone(),
                    default: Some(t.default.clone()),
                    ..Default::default()
                },
            )
        })
        .collect()
}

impl Target for FakeTarget {
    fn placements(&self) -> Vec<PlacementId> {
        vec![PlacementId(self.id.clone())]
    }
    fn prepare(&mut self, d: &Desired) -> Result<(), TargetError> {
        self.log.push("prepare".into());
        if self.fail_prepare {
            return Err(TargetError::new(
                &PlacementId(self.id.clone()),
                "prepare refused",
            ));
        }
        self.prepared = Some(Running {
            digest: d.version.digest.clone(),
            tables: tables_of(d),
        });
        Ok(())
    }
    fn commit(&mut self) -> Result<(), TargetError> {
        self.log.push("commit".into());
        if self.fail_commit {
            return Err(TargetError::new(
                &PlacementId(self.id.clone()),
                "commit refused",
            ));
        }
        let new = self.prepared.take().expect("commit after prepare");
        self.previous = Some(self.running.replace(new));
        Ok(())
    }
    fn rollback(&mut self) {
        self.log.push("rollback".into());
        self.prepared = None;
        if let Some(prev) = self.previous.take() {
            self.running = prev;
        }
    }
    fn finish(&mut self) -> Result<(), TargetError> {
        self.log.push("finish".into());
        self.previous = None;
        Ok(())
    }
    fn observe(&mut self, _d: &Desired) -> Result<Vec<Observed>, TargetError> {
        let program = if self.foreign {
            ProgramState::Foreign {
                identity: "prog 99 \"theirs\"".into(),
            }
        } else {
            match &self.running {
                None => ProgramState::Absent,
                Some(r) => ProgramState::Ours {
                    digest: r.digest.clone(),
                    identity: format!("fake {}", self.id),
                },
            }
        };
        Ok(vec![Observed {
            placement: PlacementId(self.id.clone()),
            program,
            tables: self
                .running
                .as_ref()
                .map(|r| r.tables.clone())
                .unwrap_or_default(),
        }])
    }
    fn write_entries(&mut self, _d: &Desired, ops: &[EntryOp]) -> Result<(), TargetError> {
        let n = self.writes;
        self.writes += 1;
        self.log.push(format!("write {}", ops.len()));
        if self.fail_write_at == Some(n) {
            return Err(TargetError::new(
                &PlacementId(self.id.clone()),
                "write refused",
            ));
        }
        let r = self
            .running
            .as_mut()
            .ok_or_else(|| TargetError::new(&PlacementId(self.id.clone()), "nothing runs"))?;
        // All or nothing: work on a copy.
        let mut tables = r.tables.clone();
        for op in ops {
            let t = tables.entry(op.table().to_string()).or_default();
            match op {
                EntryOp::Insert { entry, .. } => t.entries.push(entry.clone()),
                EntryOp::Delete { entry, .. } => {
                    let before = t.entries.len();
                    t.entries
                        .retain(|e| !(e.matches == entry.matches && e.priority == entry.priority));
                    if t.entries.len() == before {
                        return Err(TargetError::new(
                            &PlacementId(self.id.clone()),
                            "delete of an absent entry",
                        ));
                    }
                }
                EntryOp::Modify { entry, .. } => {
                    let e = t
                        .entries
                        .iter_mut()
                        .find(|e| e.matches == entry.matches && e.priority == entry.priority)
                        .ok_or_else(|| {
                            TargetError::new(
                                &PlacementId(self.id.clone()),
                                "modify of an absent entry",
                            )
                        })?;
                    e.action = entry.action.clone();
                }
                EntryOp::SetDefault { action, .. } => t.default = Some(action.clone()),
            }
        }
        r.tables = tables;
        Ok(())
    }
}
