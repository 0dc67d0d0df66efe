//! What happened to each Deployment: the actuator's own [`Outcome`] (its [`Kind`] carries the
//! [`Refusal`] or the [`Failure`], its decision the numbers) and the domain's
//! [`DeploymentResult`] it reports (the wire form of that is `inferno-proto`'s).

use crate::error::Failure;
use crate::guard::Refusal;
use crate::plan::Decision;
use inferno_api::AllocationData;
use inferno_core::{Applied, DeploymentResult, ServerRef};

/// What happened to one Deployment.
#[derive(Debug, Default)]
pub enum Kind {
    /// The patch was applied.
    Applied,
    /// The decision changes nothing.
    #[default]
    Unchanged,
    /// A change was decided and not applied: a dry run.
    DryRun,
    /// A change was decided and not applied: recommend mode.
    Recommended,
    /// Not a Deployment the actuator manages, or the request is out of range: nothing patched.
    Refused(Refusal),
    /// The Deployment does not exist (deleted since it was collected).
    NotFound,
    /// The Deployment could not be read or patched.
    Failed(Failure),
}

impl Kind {
    /// The domain's outcome of this kind.
    pub fn outcome(&self) -> inferno_core::Outcome {
        use inferno_core::Outcome as O;
        match self {
            Kind::Applied => O::Applied,
            Kind::Unchanged => O::Unchanged,
            Kind::DryRun => O::DryRun,
            Kind::Recommended => O::Recommend,
            Kind::Refused(_) => O::Refused,
            Kind::NotFound => O::NotFound,
            Kind::Failed(_) => O::Failed,
        }
    }

    /// Whether the Deployment could not be acted on (the failures metric counts these).
    pub fn failed(&self) -> bool {
        matches!(self, Kind::NotFound | Kind::Failed(_))
    }
}

/// The outcome for one Deployment.
#[derive(Debug)]
pub struct Outcome {
    /// Server name.
    pub server: String,
    /// Where.
    pub target: ServerRef,
    /// The decision (None when the Deployment was refused or could not be read).
    pub decision: Option<Decision>,
    /// What happened.
    pub kind: Kind,
}

impl Outcome {
    /// Whether a patch was applied.
    pub fn applied(&self) -> bool {
        matches!(self.kind, Kind::Applied)
    }

    /// The refusal, if the Deployment was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match &self.kind {
            Kind::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// Why nothing was applied, or what failed ("" when applied or nothing to do).
    pub fn error(&self) -> String {
        match &self.kind {
            Kind::Applied | Kind::Unchanged => String::new(),
            Kind::DryRun => "dry run".into(),
            Kind::Recommended => "recommend mode".into(),
            Kind::Refused(r) => r.to_string(),
            Kind::NotFound => {
                "deployment not found (deleted since it was collected); skipped".into()
            }
            Kind::Failed(e) => e.to_string(),
        }
    }
}

impl From<&Outcome> for DeploymentResult {
    /// The result as the contract reports it: before and after (replicas, accelerator, batch
    /// size, 0 when unknown), the reason with the decision's notes, and why not applied.
    fn from(o: &Outcome) -> Self {
        let side = |accelerator: &str, replicas: i64, batch: Option<i64>| AllocationData {
            accelerator: accelerator.to_string(),
            num_replicas: replicas,
            max_batch: batch.unwrap_or(0),
            ..AllocationData::default()
        };
        let (old, new, reason) = match &o.decision {
            Some(d) => (
                Some(side(&d.old_accelerator, d.old_replicas, d.old_batch)),
                Some(side(&d.new_accelerator, d.new_replicas, d.new_batch)),
                if d.notes.is_empty() {
                    d.reason.clone()
                } else {
                    format!("{} ({})", d.reason, d.notes.join("; "))
                },
            ),
            None => (None, None, String::new()),
        };
        Self {
            server: o.server.clone(),
            deployment: o.target.name.clone(),
            namespace: o.target.namespace.clone(),
            old,
            new,
            outcome: o.kind.outcome(),
            reason,
            error: o.error(),
            code: o
                .refusal()
                .map(|r| r.code.as_str().to_string())
                .unwrap_or_default(),
        }
    }
}

/// The domain's answer to a request: one result per outcome, in order.
pub fn applied(outcomes: &[Outcome], dry_run: bool) -> Applied {
    Applied {
        results: outcomes.iter().map(DeploymentResult::from).collect(),
        dry_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Code;

    fn outcome(kind: Kind, decision: Option<Decision>) -> Outcome {
        Outcome {
            server: "s".into(),
            target: ServerRef {
                name: "d".into(),
                namespace: "ns".into(),
                uid: "u".into(),
            },
            decision,
            kind,
        }
    }

    #[test]
    fn every_kind_has_its_domain_outcome() {
        let refusal = Refusal {
            code: Code::NotManaged,
            message: "no label".into(),
        };
        let r = DeploymentResult::from(&outcome(Kind::Refused(refusal), None));
        assert_eq!(
            (r.outcome, r.code.as_str(), r.old, r.new),
            (inferno_core::Outcome::Refused, "not-managed", None, None)
        );
        assert_eq!(r.error, "refused (not-managed): no label; nothing patched");
        let names: Vec<&str> = [
            Kind::Applied,
            Kind::Unchanged,
            Kind::DryRun,
            Kind::Recommended,
            Kind::NotFound,
        ]
        .iter()
        .map(|k| k.outcome().name())
        .collect();
        assert_eq!(
            names,
            ["applied", "unchanged", "dry-run", "recommend", "not-found"]
        );
        assert!(Kind::NotFound.failed() && !Kind::DryRun.failed());
    }

    #[test]
    fn a_decision_gives_numbers_and_the_reason_with_its_notes() {
        let d = Decision {
            old_replicas: 2,
            new_replicas: 5,
            old_accelerator: "A100".into(),
            new_accelerator: "G2".into(),
            old_batch: None,
            new_batch: Some(38),
            reason: "scale up to meet the SLO".into(),
            notes: vec!["step limited 9 -> 5".into()],
            invalid: Vec::new(),
        };
        let a = applied(&[outcome(Kind::Applied, Some(d))], false);
        let r = &a.results[0];
        assert!(r.applied() && r.error.is_empty() && r.code.is_empty());
        let (old, new) = (r.old.as_ref().unwrap(), r.new.as_ref().unwrap());
        assert_eq!((old.num_replicas, old.max_batch), (2, 0));
        assert_eq!((new.accelerator.as_str(), new.max_batch), ("G2", 38));
        assert_eq!(r.reason, "scale up to meet the SLO (step limited 9 -> 5)");
        assert_eq!((r.deployment.as_str(), r.namespace.as_str()), ("d", "ns"));
    }
}
