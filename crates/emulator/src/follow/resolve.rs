//! From allocation labels to engine settings: iteration parameters of (model, accelerator)
//! from the catalog with fallbacks, and the batch cap.

use crate::config::{Catalog, DEFAULT_MAX_BATCH_SIZE};
use inferno_api::PerfParms;

/// Iteration parameters used when the catalog has no row at all for a model: granite_13b on
/// A100 from the sample `model-data.json`, ms.
pub const FALLBACK_PERF: PerfParms = PerfParms {
    alpha: 20.58,
    beta: 0.041,
    gamma: 0.001_281_25,
};

/// What a server runs with for a (model, accelerator, maxbatchsize label) triple.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) perf: PerfParms,
    pub(crate) max_batch: u32,
    /// Why the parameters are not the catalog's row for the pair, when they are not.
    pub(crate) fallback: Option<String>,
}

/// Parameters of (model, accelerator) from the catalog; when the pair is unknown, those of the
/// model's first row, then [`FALLBACK_PERF`]. The batch cap is the label when > 0, else the
/// row's `maxBatchSize`, else 256.
pub(crate) fn settings(
    catalog: Option<&Catalog>,
    model: &str,
    accelerator: &str,
    max_batch_label: u32,
) -> Settings {
    let exact = catalog.and_then(|c| c.get(model, accelerator));
    let (row, fallback) = match exact {
        Some(row) => (Some(row), None),
        None => match catalog.and_then(|c| c.first_of_model(model)) {
            Some(row) => (
                Some(row),
                Some(format!(
                    "no performance data for ({model}, {accelerator:?}); using those of ({model}, {})",
                    row.acc
                )),
            ),
            None => (
                None,
                Some(format!(
                    "no performance data for model {model}; using alpha {} beta {} gamma {}",
                    FALLBACK_PERF.alpha, FALLBACK_PERF.beta, FALLBACK_PERF.gamma
                )),
            ),
        },
    };
    let row_batch = row
        .map(|r| r.max_batch_size)
        .filter(|n| *n > 0)
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let max_batch = if max_batch_label > 0 {
        max_batch_label
    } else {
        row_batch.unwrap_or(DEFAULT_MAX_BATCH_SIZE)
    };
    Settings {
        perf: row.map_or(FALLBACK_PERF, |r| r.perf_parms),
        max_batch,
        fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::new(
            inferno_api::parse_models(
                r#"{"models":[
                  {"name":"m","acc":"L4","maxBatchSize":8,"perfParms":{"alpha":100,"beta":0.2,"gamma":0.01}},
                  {"name":"m","acc":"A100","maxBatchSize":64,"perfParms":{"alpha":20,"beta":0.04,"gamma":0.001}}]}"#,
                "model-data.json",
            )
            .unwrap(),
        )
    }

    #[test]
    fn exact_row_then_first_row_of_the_model_then_the_default() {
        let c = catalog();
        let s = settings(Some(&c), "m", "A100", 0);
        assert_eq!((s.perf.alpha, s.max_batch, s.fallback), (20.0, 64, None));
        let s = settings(Some(&c), "m", "A100", 12);
        assert_eq!(s.max_batch, 12);
        let s = settings(Some(&c), "m", "H100", 0);
        assert_eq!((s.perf.alpha, s.max_batch), (100.0, 8));
        assert!(s.fallback.unwrap().contains("(m, L4)"));
        let s = settings(Some(&c), "other", "A100", 0);
        assert_eq!((s.perf, s.max_batch), (FALLBACK_PERF, 256));
        assert!(s.fallback.is_some());
        assert_eq!(settings(None, "m", "A100", 3).max_batch, 3);
    }
}
