//! Just enough of a Makefile reader to check the `images` target: single-line variable
//! assignments, targets with their recipes, and `.PHONY`.

use std::collections::{BTreeMap, BTreeSet};

/// A parsed Makefile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Makefile {
    /// Variables (`NAME = v`, `:=`, `?=`; the last assignment wins, `+=` appends).
    pub variables: BTreeMap<String, String>,
    /// Targets and their recipe lines (without the leading tab).
    pub targets: BTreeMap<String, Vec<String>>,
    /// Prerequisites of each target.
    pub prerequisites: BTreeMap<String, Vec<String>>,
    /// `.PHONY` targets.
    pub phony: BTreeSet<String>,
}

impl Makefile {
    /// Parses a Makefile (continuation lines joined; conditionals and includes ignored).
    pub fn parse(text: &str) -> Self {
        let mut mk = Self::default();
        let mut lines: Vec<String> = Vec::new();
        let mut acc = String::new();
        for raw in text.lines() {
            match raw.strip_suffix('\\') {
                Some(part) => {
                    acc.push_str(part);
                    acc.push(' ');
                }
                None => {
                    acc.push_str(raw);
                    lines.push(std::mem::take(&mut acc));
                }
            }
        }
        let mut current: Option<String> = None;
        for line in lines {
            if let Some(recipe) = line.strip_prefix('\t') {
                if let Some(t) = &current {
                    mk.targets
                        .entry(t.clone())
                        .or_default()
                        .push(recipe.trim().to_string());
                }
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            current = None;
            let assignment = ["?=", ":=", "+=", "="]
                .iter()
                .filter_map(|op| trimmed.find(op).map(|i| (i, *op)))
                .min();
            let colon = trimmed
                .find(':')
                .filter(|&c| trimmed[c..].chars().nth(1) != Some('='));
            match (assignment, colon) {
                (Some((i, op)), c) if c.is_none_or(|c| i < c) => {
                    let name = trimmed[..i].trim().to_string();
                    let value = trimmed[i + op.len()..].trim().to_string();
                    if op == "+=" {
                        let v = mk.variables.entry(name).or_default();
                        if !v.is_empty() {
                            v.push(' ');
                        }
                        v.push_str(&value);
                    } else {
                        mk.variables.insert(name, value);
                    }
                }
                (_, Some(c)) => {
                    let prereqs: Vec<String> = trimmed[c + 1..]
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    for t in trimmed[..c].split_whitespace() {
                        if t == ".PHONY" {
                            mk.phony.extend(prereqs.iter().cloned());
                        } else {
                            mk.targets.entry(t.to_string()).or_default();
                            mk.prerequisites.insert(t.to_string(), prereqs.clone());
                            current = Some(t.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        mk
    }

    /// The words of variable `name` (empty when unset).
    pub fn words(&self, name: &str) -> Vec<String> {
        self.variables
            .get(name)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_targets_and_phony() {
        let mk = Makefile::parse(
            "# c\nCARGO ?= cargo\nIMAGES := a b \\\n  c\nIMAGES += d\n.PHONY: all images\n\nimages: build\n\t@echo $(IMAGES)\n\tfor i in x; do \\\n\t  echo $$i; done\n\nall:\n\ttrue\n",
        );
        assert_eq!(mk.variables["CARGO"], "cargo");
        assert_eq!(mk.words("IMAGES"), ["a", "b", "c", "d"]);
        assert_eq!(
            mk.phony,
            BTreeSet::from(["all".to_string(), "images".to_string()])
        );
        assert_eq!(mk.targets["images"].len(), 2);
        assert_eq!(mk.prerequisites["images"], ["build"]);
        assert_eq!(mk.targets["all"], ["true"]);
        assert!(mk.words("NONE").is_empty());
    }
}
