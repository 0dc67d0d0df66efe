//! Object metadata helpers: timestamps, uids, random name suffixes, template hashes, and typed
//! access to `metadata` fields of a `serde_json::Value` object.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Map, Value};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the Unix epoch, with a fraction.
pub(crate) fn now_secs_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// RFC 3339 time with second precision (`metav1.Time`).
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Current time as `metav1.Time`.
pub(crate) fn now() -> String {
    rfc3339(now_secs())
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z` to seconds since the epoch.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

// Howard Hinnant's civil calendar algorithms.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Human age as kubectl prints it (`5s`, `3m12s`, `2d4h`).
pub(crate) fn age(since: Option<&str>) -> String {
    let Some(start) = since.and_then(parse_rfc3339) else {
        return "<unknown>".to_string();
    };
    let s = (now_secs() - start).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10_799 => format!("{}m", s / 60),
        10_800..=28_799 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        28_800..=172_799 => format!("{}h", s / 3600),
        172_800..=691_199 => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A non-cryptographic random 64-bit number from one process-wide xoshiro256++ stream, seeded
/// from the clock and the process id at first use (uids and name suffixes need to differ, not to
/// be secret or repeatable).
pub(crate) fn random_u64() -> u64 {
    static RNG: LazyLock<Mutex<Xoshiro256PlusPlus>> = LazyLock::new(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Mutex::new(Xoshiro256PlusPlus::seed_from_u64(
            nanos ^ u64::from(std::process::id()).rotate_left(32),
        ))
    });
    // A panic elsewhere cannot leave the generator's state invalid: any state is a valid one.
    RNG.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .next_u64()
}

/// A random version-4 UUID string.
pub(crate) fn uid() -> String {
    let a = random_u64();
    let b = random_u64();
    let hi = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
    let lo = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

// The alphabet Kubernetes uses for generated names: no vowels, no look-alikes.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn encode(mut v: u64, len: usize) -> String {
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        out.push(ALPHABET[(v % ALPHABET.len() as u64) as usize] as char);
        v /= ALPHABET.len() as u64;
    }
    out
}

/// Five random characters, the suffix of `generateName` names and of pod names.
pub(crate) fn random_suffix() -> String {
    encode(random_u64(), 5)
}

/// `v` without null fields, recursively: a null field means an absent one (kubectl sends
/// `creationTimestamp: null` in the pod template of `rollout undo`).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A stable 10-character hash of a JSON value (the `pod-template-hash` label); null fields
/// do not count.
pub(crate) fn template_hash(v: &Value) -> String {
    // FNV-1a over the canonical (sorted-key) serialisation.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in without_nulls(v).to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    encode(h, 10)
}

/// `metadata` of an object (empty when absent or not an object).
pub(crate) fn metadata(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `metadata`, created when missing.
pub(crate) fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["metadata"]
        .as_object_mut()
        .expect("just made an object")
}

/// A string field of `metadata`, or "".
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    metadata(obj)
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

/// `metadata.namespace`.
pub(crate) fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

/// `metadata.uid`.
pub(crate) fn uid_of(obj: &Value) -> &str {
    meta_str(obj, "uid")
}

/// `metadata.resourceVersion` as a number (0 when absent).
pub(crate) fn resource_version(obj: &Value) -> u64 {
    meta_str(obj, "resourceVersion").parse().unwrap_or(0)
}

/// `metadata.labels` (empty when absent).
pub(crate) fn labels(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    metadata(obj)
        .get("labels")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// Whether `obj` has an owner reference to `uid`.
pub(crate) fn owned_by(obj: &Value, uid: &str) -> bool {
    metadata(obj)
        .get("ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
        for t in [0, 951_782_400, 1_735_689_599, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2024-12-31T23:59:59.123456Z"),
            Some(1_735_689_599)
        );
        assert_eq!(parse_rfc3339("nope"), None);
    }

    #[test]
    fn names_and_uids() {
        let u = uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(uid(), uid());
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|b| ALPHABET.contains(&b)));
        let t = serde_json::json!({"a": 1});
        assert_eq!(template_hash(&t), template_hash(&t.clone()));
        assert_ne!(
            template_hash(&t),
            template_hash(&serde_json::json!({"a": 2}))
        );
        let with_null = serde_json::json!({"a": 1, "metadata": {"creationTimestamp": null}});
        assert_eq!(
            template_hash(&with_null),
            template_hash(&serde_json::json!({"a": 1, "metadata": {}}))
        );
    }
}
