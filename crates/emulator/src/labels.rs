//! The Deployment labels the follow mode reads and the load emulator writes (control-loop spec
//! 7.3), under the emulator's names: each is the contract's key
//! ([`inferno_core::contract::keys`]), and a value means what it means to the collector
//! ([`number`] is the contract's reader). Only how load values are rounded and printed is the
//! emulator's own.

use inferno_core::contract::{self, keys};
use std::collections::BTreeMap;

pub use inferno_core::contract::managed_selector;

/// `"true"` on every Deployment Inferno manages.
pub const MANAGED: &str = keys::MANAGED;
/// Server name.
pub const NAME: &str = keys::NAME;
/// Served model name.
pub const MODEL: &str = keys::MODEL;
/// Service class.
pub const CLASS: &str = keys::CLASS;
/// Accelerator of the current allocation.
pub const ACCELERATOR: &str = keys::ACCELERATOR;
/// Max batch size of the current allocation.
pub const MAX_BATCH: &str = keys::MAX_BATCH;
/// Offered load, requests per minute over all replicas.
pub const LOAD_RPM: &str = keys::LOAD_RPM;
/// Mean prompt tokens per request.
pub const LOAD_IN_TOKENS: &str = keys::LOAD_IN;
/// Mean generated tokens per request.
pub const LOAD_OUT_TOKENS: &str = keys::LOAD_OUT;
/// Mean tokens per request (the seed's single token count).
pub const LOAD_NUM_TOKENS: &str = keys::LOAD_NUM;
/// Nominal value of [`LOAD_RPM`] the mean-reverting walk returns to.
pub const NOMINAL_RPM: &str = keys::LOAD_NOMINAL[0];
/// Nominal value of [`LOAD_IN_TOKENS`].
pub const NOMINAL_IN_TOKENS: &str = keys::LOAD_NOMINAL[1];
/// Nominal value of [`LOAD_OUT_TOKENS`].
pub const NOMINAL_OUT_TOKENS: &str = keys::LOAD_NOMINAL[2];
/// Nominal value of [`LOAD_NUM_TOKENS`].
pub const NOMINAL_NUM_TOKENS: &str = keys::LOAD_NOMINAL[3];

/// Label `key` as a number, if it is present and the contract accepts it
/// ([`contract::number`]: a finite number in the key's range, an integer where one is needed).
/// A value the collector would not use is not used here either.
pub fn number(labels: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    contract::number(key, labels.get(key)?.trim()).ok()
}

/// A label as a positive whole token count (a fractional value is rounded), if present.
pub fn tokens(labels: &BTreeMap<String, String>, key: &str) -> Option<u32> {
    number(labels, key)
        .map(f64::round)
        .filter(|v| *v >= 1.0)
        .map(|v| v.min(f64::from(u32::MAX)) as u32)
}

/// An RPM value as written to labels: rounded to 4 decimals, without trailing zeros
/// (`30`, `30.5`, `31.0625`).
pub fn format_rpm(rpm: f64) -> String {
    let text = format!("{rpm:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_formats() {
        let labels: BTreeMap<String, String> = [
            (LOAD_RPM, "30.5"),
            (LOAD_IN_TOKENS, "127.6"),
            (LOAD_OUT_TOKENS, "0"),
            (MAX_BATCH, "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(number(&labels, LOAD_RPM), Some(30.5));
        assert_eq!(number(&labels, MAX_BATCH), None);
        assert_eq!(tokens(&labels, LOAD_IN_TOKENS), Some(128));
        assert_eq!(tokens(&labels, LOAD_OUT_TOKENS), None);
        assert_eq!(tokens(&labels, LOAD_NUM_TOKENS), None);
        assert_eq!(format_rpm(30.0), "30");
        assert_eq!(format_rpm(30.5), "30.5");
        assert_eq!(format_rpm(31.062_51), "31.0625");
        assert_eq!(format_rpm(6.000_04), "6");
        assert_eq!(format_rpm(-0.000_01), "0");
        assert_eq!(managed_selector(), "inferno.server.managed=true");
    }

    #[test]
    fn values_the_collector_would_not_use_are_not_used() {
        let labels: BTreeMap<String, String> = [
            (MAX_BATCH, "1.5"),
            (LOAD_RPM, "1e308"),
            (LOAD_IN_TOKENS, "-3"),
            (NOMINAL_RPM, " 60 "),
            (NOMINAL_IN_TOKENS, "inf"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(number(&labels, MAX_BATCH), None, "a fraction of a batch");
        assert_eq!(number(&labels, LOAD_RPM), None, "beyond the largest rate");
        assert_eq!(number(&labels, LOAD_IN_TOKENS), None);
        assert_eq!(number(&labels, NOMINAL_RPM), Some(60.0));
        assert_eq!(number(&labels, NOMINAL_IN_TOKENS), None);
        assert_eq!(number(&labels, NAME), None, "absent");
    }
}
