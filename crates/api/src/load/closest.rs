//! [`closest`], the "did you mean" of the messages about unknown fields, here and in the
//! services that read labels. Separate because it is used outside reading, and has nothing of
//! JSON in it.

/// The name in `known` that `key` most likely misspells, if any is close: compared without case,
/// within a few edits (one per three characters of the shorter name, at least 1, at most 3), or
/// one containing the other (at least 4 characters), fewest edits first, then first in `known`.
///
/// Used for "did you mean" in the messages about unknown fields and labels.
///
/// ```
/// let fields = ["arrivalRate", "throughput", "avgInTokens", "avgOutTokens"];
/// assert_eq!(inferno_api::closest("arivalRate", fields), Some("arrivalRate"));
/// assert_eq!(inferno_api::closest("AVGINTOKEN", fields), Some("avgInTokens"));
/// assert_eq!(inferno_api::closest("color", fields), None);
/// ```
pub fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let key = key.to_lowercase();
    let key_len = key.chars().count();
    let mut best: Option<(usize, &'a str)> = None;
    for name in known {
        let lower = name.to_lowercase();
        let shorter = key_len.min(lower.chars().count());
        let edits = strsim::damerau_levenshtein(&key, &lower);
        let contained = shorter >= 4 && (key.contains(&lower) || lower.contains(&key));
        let close = edits <= (shorter / 3).clamp(1, 3) || contained;
        if close && best.is_none_or(|(fewest, _)| edits < fewest) {
            best = Some((edits, name));
        }
    }
    best.map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::schema::LOAD;

    #[test]
    fn closest_is_a_likely_misspelling() {
        let load = LOAD.fields.iter().map(|f| f.name);
        assert_eq!(closest("arivalRate", load.clone()), Some("arrivalRate"));
        assert_eq!(closest("throughPut", load.clone()), Some("throughput"));
        assert_eq!(closest("avgOutToken", load.clone()), Some("avgOutTokens"));
        assert_eq!(closest("avgTokens", load.clone()), Some("avgInTokens"));
        assert_eq!(closest("rate", load.clone()), Some("arrivalRate"));
        assert_eq!(closest("latency", load.clone()), None);
        assert_eq!(closest("", load), None);
        assert_eq!(closest("nmae", ["name", "model"]), Some("name"));
        assert_eq!(closest("x", ["a", "ab"]), Some("a"));
        assert_eq!(closest("model", ["models", "model"]), Some("model"));
        let labels = ["inferno.server.load.rpm", "inferno.server.min-replicas"];
        assert_eq!(closest("inferno.server.laod.rpm", labels), Some(labels[0]));
        assert_eq!(closest("inferno.server.replicas", labels), None);
        assert_eq!(closest("inferno.server.foo", labels), None);
    }
}
