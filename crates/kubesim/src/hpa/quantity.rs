//! Kubernetes quantities (`"1"`, `"500m"`, `"2k"`, `"1.5"`, `"1Gi"`) in milli-units, the unit
//! the HPA controller computes in (`Quantity.MilliValue()`, rounded up), and back to the
//! canonical decimal form the API writes (`"2"`, `"1500m"`, `"3k"`).

/// The value of `q` in thousandths, rounded up as `MilliValue()` rounds; `None` when `q` is not
/// a quantity. A JSON number is taken as its decimal text.
pub(crate) fn parse_milli(q: &serde_json::Value) -> Option<i64> {
    match q {
        serde_json::Value::String(s) => parse_milli_str(s),
        serde_json::Value::Number(n) => parse_milli_str(&n.to_string()),
        _ => None,
    }
}

fn parse_milli_str(s: &str) -> Option<i64> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    // value = digits * 10^exp10 * 2^exp2
    let (exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        e if e.starts_with(['e', 'E']) => (e[1..].parse().ok()?, 0),
        _ => return None,
    };
    let digits: String = format!("{int}{frac}");
    let mut mantissa: i128 = digits.parse().ok()?;
    mantissa = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    // In thousandths: shift the decimal point by exp10 + 3 - (digits after the point).
    let shift = exp10 + 3 - i32::try_from(frac.len()).ok()?;
    let milli = if shift >= 0 {
        mantissa.checked_mul(10i128.checked_pow(shift.unsigned_abs())?)?
    } else {
        // Rounded up (the magnitude; the sign is applied below), as MilliValue rounds.
        match 10i128.checked_pow(shift.unsigned_abs()) {
            Some(div) => mantissa / div + i128::from(mantissa % div != 0),
            None => i128::from(mantissa != 0),
        }
    };
    let milli = if negative { -milli } else { milli };
    i64::try_from(milli).ok()
}

/// The canonical decimal form of `milli` thousandths, as the API prints a quantity made with
/// `NewMilliQuantity(milli, DecimalSI)`.
pub(crate) fn format_milli(milli: i64) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let mut v = milli / 1000;
    let mut suffix = 0;
    const SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    while v != 0 && v % 1000 == 0 && suffix + 1 < SUFFIXES.len() {
        v /= 1000;
        suffix += 1;
    }
    format!("{v}{}", SUFFIXES[suffix])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_forms_the_api_accepts() {
        for (q, milli) in [
            (json!("1"), 1000),
            (json!(1), 1000),
            (json!("500m"), 500),
            (json!("0.1"), 100),
            (json!("1.5"), 1500),
            (json!("2k"), 2_000_000),
            (json!("1Ki"), 1_024_000),
            (json!("1e3"), 1_000_000),
            (json!("1E-3"), 1),
            (json!("+3"), 3000),
            (json!("-2"), -2000),
            // Below a thousandth: rounded up, as MilliValue rounds.
            (json!("1n"), 1),
            (json!("1500u"), 2),
        ] {
            assert_eq!(parse_milli(&q), Some(milli), "{q}");
        }
        for bad in [
            json!(""),
            json!("x"),
            json!("1.2.3"),
            json!("1Z"),
            json!(null),
            json!("."),
        ] {
            assert_eq!(parse_milli(&bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(format_milli(1000), "1");
        assert_eq!(format_milli(2500), "2500m");
        assert_eq!(format_milli(0), "0");
        assert_eq!(format_milli(3_000_000), "3k");
        assert_eq!(format_milli(1_500_000), "1500");
        assert_eq!(format_milli(-4000), "-4");
    }
}
