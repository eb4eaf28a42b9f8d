//! The DAG scheduler: runs up to `jobs` units at once, each only after all its deps
//! succeeded. The first failure stops new work (or, with `keep_going`, only the units that
//! depend on it). Pure coordination: the work itself is a callback.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;

/// What happened to one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Built,
    /// Reused from a verified earlier build.
    Cached,
    Failed(String),
    /// Not built because a dependency failed.
    Blocked {
        by: String,
    },
    /// Not started because the build stopped at the first failure.
    NotStarted,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Built | Outcome::Cached)
    }
}

/// Run `work` for every unit of `plan` (already in dependency order) respecting `deps`.
pub fn run<F>(
    plan: &[String],
    deps: &BTreeMap<String, Vec<String>>,
    jobs: usize,
    keep_going: bool,
    work: F,
) -> BTreeMap<String, Outcome>
where
    F: Fn(&str) -> Outcome + Sync,
{
    let in_plan: BTreeSet<&str> = plan.iter().map(String::as_str).collect();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut stopped = false;
    let jobs = jobs.max(1);
    let (tx, rx) = mpsc::channel::<(String, Outcome)>();
    std::thread::scope(|scope| {
        loop {
            // Settle units whose deps failed; start ready ones while there is room.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for name in plan {
                    if outcomes.contains_key(name) || running.contains(name) {
                        continue;
                    }
                    let ds: Vec<&String> =
                        deps.get(name).into_iter().flatten().filter(|d| in_plan.contains(d.as_str())).collect();
                    if let Some(bad) = ds.iter().find(|d| outcomes.get(d.as_str()).is_some_and(|o| !o.ok())) {
                        let by = match &outcomes[bad.as_str()] {
                            Outcome::Blocked { by } => by.clone(),
                            _ => bad.to_string(),
                        };
                        outcomes.insert(name.clone(), Outcome::Blocked { by });
                        progressed = true;
                        continue;
                    }
                    if stopped || running.len() >= jobs {
                        continue;
                    }
                    if ds.iter().all(|d| outcomes.get(d.as_str()).is_some_and(Outcome::ok)) {
                        running.insert(name.clone());
                        let tx = tx.clone();
                        let work = &work;
                        let name = name.clone();
                        scope.spawn(move || {
                            let o = work(&name);
                            let _ = tx.send((name, o));
                        });
                        progressed = true;
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            let Ok((name, o)) = rx.recv() else { break };
            running.remove(&name);
            if !o.ok() && !keep_going {
                stopped = true;
            }
            outcomes.insert(name, o);
        }
    });
    for name in plan {
        outcomes.entry(name.clone()).or_insert(Outcome::NotStarted);
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn runs_in_dependency_order_with_parallelism() {
        let plan: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let d = deps(&[("c", &["a", "b"]), ("d", &["c"])]);
        let log = Mutex::new(Vec::new());
        let out = run(&plan, &d, 2, false, |n| {
            log.lock().unwrap().push(n.to_string());
            Outcome::Built
        });
        assert!(out.values().all(|o| *o == Outcome::Built));
        let log = log.into_inner().unwrap();
        let pos = |n: &str| log.iter().position(|x| x == n).unwrap();
        assert!(pos("a") < pos("c") && pos("b") < pos("c") && pos("c") < pos("d"));
    }

    #[test]
    fn failure_blocks_dependents_and_stops_or_keeps_going() {
        let plan: Vec<String> = ["a", "b", "c", "x", "y"].iter().map(|s| s.to_string()).collect();
        let d = deps(&[("b", &["a"]), ("c", &["b"]), ("y", &["x"])]);
        let work = |n: &str| if n == "a" { Outcome::Failed("boom".into()) } else { Outcome::Built };
        let out = run(&plan, &d, 1, true, work);
        assert_eq!(out["b"], Outcome::Blocked { by: "a".into() });
        assert_eq!(out["c"], Outcome::Blocked { by: "a".into() });
        assert_eq!(out["y"], Outcome::Built, "keep-going builds independent units");
        let out = run(&plan, &d, 1, false, work);
        assert_eq!(out["x"], Outcome::NotStarted, "without keep-going nothing new starts");
        assert_eq!(out["c"], Outcome::Blocked { by: "a".into() });
    }
}
