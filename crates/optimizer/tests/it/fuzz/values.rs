//! The values fuzzing puts into numeric fields: the edges of every type and of the shared ranges
//! (`inferno_api::limits`), just inside and just outside.

use inferno_api::limits::*;
use proptest::prelude::*;
use proptest::sample::Index;

/// JSON number texts, as written into a data file (some are not valid JSON or overflow f64).
pub(super) const NUMBER_TEXTS: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.5",
    "-0.5",
    "-0",
    "1e-300",
    "5e-324",
    "100000000",
    "1e15",
    "1000000000000000",
    "1e300",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "2147483647",
    "2147483648",
    "-2147483648",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "1e19",
    "4096",
    "4097",
    "16384",
    "16385",
    "1048576",
    "1048577",
    "10000",
    "10001",
    "1000000",
    "1000001",
    "3600",
    "3601",
    "10000000",
    "10000001",
    "1e309",
    "-1e309",
    "1E400",
    "1.5e-400",
    "99999999999999999999999999999",
    "NaN",
    "Infinity",
    "-Infinity",
    "0.1",
    "12.75",
];

/// Floating-point values for `f64` fields.
pub(super) fn floats() -> Vec<f64> {
    vec![
        0.0,
        -1.0,
        -0.0,
        1e-300,
        5e-324,
        0.5,
        1e8,
        1e15,
        1e300,
        1e308,
        -1e308,
        f64::MAX,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        2_147_483_647.0,
        4_294_967_296.0,
        9.223_372_036_854_776e18,
        MAX_RATE_RPM,
        MAX_RATE_RPM * 1.000_001,
        MAX_TOKENS,
        MAX_TOKENS + 1.0,
        MAX_COST,
        MAX_COST * 1.000_001,
        MAX_LATENCY_MS,
        MAX_LATENCY_MS * 1.000_001,
        MAX_PERF_PARM,
        MAX_PERF_PARM * 1.000_001,
        MAX_TPS,
        MAX_TIME_LIMIT_SECONDS,
        MAX_TIME_LIMIT_SECONDS + 1.0,
        MAX_COV,
    ]
}

/// Integer values for `i64` fields.
pub(super) fn ints() -> Vec<i64> {
    vec![
        0,
        -1,
        1,
        i64::MAX,
        i64::MIN,
        i64::from(i32::MAX),
        i64::from(i32::MIN),
        1 << 32,
        100_000_000,
        1_000_000_000_000_000,
        MAX_BATCH_SIZE,
        MAX_BATCH_SIZE + 1,
        MAX_QUEUE_SIZE,
        MAX_QUEUE_SIZE + 1,
        MAX_TOKENS as i64,
        MAX_TOKENS as i64 + 1,
        MAX_REPLICAS,
        MAX_REPLICAS + 1,
        MAX_UNITS,
        MAX_UNITS + 1,
    ]
}

/// Integer values for `i32` fields (gRPC requests).
pub(super) fn ints32() -> Vec<i32> {
    ints()
        .into_iter()
        .filter_map(|v| i32::try_from(v).ok())
        .collect()
}

/// An extreme value, by its place in one of the tables above.
#[derive(Debug, Clone, Copy)]
pub(super) struct Extreme(pub(super) Index);

impl Extreme {
    pub(super) fn float(self) -> f64 {
        let t = floats();
        t[self.0.index(t.len())]
    }
    pub(super) fn int(self) -> i64 {
        let t = ints();
        t[self.0.index(t.len())]
    }
    pub(super) fn int32(self) -> i32 {
        let t = ints32();
        t[self.0.index(t.len())]
    }
    pub(super) fn text(self) -> &'static str {
        NUMBER_TEXTS[self.0.index(NUMBER_TEXTS.len())]
    }
}

pub(super) fn extreme() -> impl Strategy<Value = Extreme> {
    any::<Index>().prop_map(Extreme)
}

/// A float as text that reads back as the same number (and `NaN`/`inf` as themselves).
pub(super) fn show(v: f64) -> String {
    if v == 0.0 || (v.is_finite() && (1e-4..1e16).contains(&v.abs())) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}
