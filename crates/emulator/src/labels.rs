//! The Deployment labels the follow mode reads and the load emulator writes (control-loop spec
//! 7.3), and how their values are read and printed.

use std::collections::BTreeMap;

/// `"true"` on every Deployment Inferno manages.
pub const MANAGED: &str = "inferno.server.managed";
/// Server name.
pub const NAME: &str = "inferno.server.name";
/// Served model name.
pub const MODEL: &str = "inferno.server.model";
/// Service class.
pub const CLASS: &str = "inferno.server.class";
/// Accelerator of the current allocation.
pub const ACCELERATOR: &str = "inferno.server.allocation.accelerator";
/// Max batch size of the current allocation.
pub const MAX_BATCH: &str = "inferno.server.allocation.maxbatchsize";
/// Offered load, requests per minute over all replicas.
pub const LOAD_RPM: &str = "inferno.server.load.rpm";
/// Mean prompt tokens per request.
pub const LOAD_IN_TOKENS: &str = "inferno.server.load.intokens";
/// Mean generated tokens per request.
pub const LOAD_OUT_TOKENS: &str = "inferno.server.load.outtokens";
/// Mean tokens per request (the seed's single token count).
pub const LOAD_NUM_TOKENS: &str = "inferno.server.load.numtokens";
/// Nominal value of [`LOAD_RPM`] the mean-reverting walk returns to.
pub const NOMINAL_RPM: &str = "inferno.server.load.nominal.rpm";
/// Nominal value of [`LOAD_IN_TOKENS`].
pub const NOMINAL_IN_TOKENS: &str = "inferno.server.load.nominal.intokens";
/// Nominal value of [`LOAD_OUT_TOKENS`].
pub const NOMINAL_OUT_TOKENS: &str = "inferno.server.load.nominal.outtokens";
/// Nominal value of [`LOAD_NUM_TOKENS`].
pub const NOMINAL_NUM_TOKENS: &str = "inferno.server.load.nominal.numtokens";

/// The label selector of managed Deployments.
pub fn managed_selector() -> String {
    format!("{MANAGED}=true")
}

/// A label as a finite number, if it is present and parses.
pub fn number(labels: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    labels
        .get(key)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
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
}
