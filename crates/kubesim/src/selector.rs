//! Label selectors (`a=b,c!=d,e in (f,g),h notin (i),j,!k,l>3`) and field selectors
//! (`metadata.name=x,status.phase!=Running`), parsed as the API server parses them.

use crate::error::ApiError;
use crate::resource::ResourceType;
use serde_json::{Map, Value};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key` (the label is set).
    Exists(String),
    /// `!key` (the label is not set).
    NotExists(String),
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the label is not set).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when the label is not set).
    NotIn(String, Vec<String>),
    /// `key>n` (the label is an integer greater than n).
    GreaterThan(String, i64),
    /// `key<n` (the label is an integer less than n).
    LessThan(String, i64),
}

/// A parsed label selector: all requirements must hold. Empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Token::Ident(s) => s,
            Token::Eq => "=",
            Token::DoubleEq => "==",
            Token::NotEq => "!=",
            Token::Bang => "!",
            Token::Gt => ">",
            Token::Lt => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
        })
    }
}

fn show(t: Option<&Token>) -> String {
    t.map_or_else(|| "end of string".to_string(), |t| format!("'{t}'"))
}

fn lex(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            ' ' | '\t' | '\n' => {
                i += 1;
                continue;
            }
            '=' if next == Some('=') => (Token::DoubleEq, 2),
            '=' => (Token::Eq, 1),
            '!' if next == Some('=') => (Token::NotEq, 2),
            '!' => (Token::Bang, 1),
            '>' => (Token::Gt, 1),
            '<' => (Token::Lt, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            ',' => (Token::Comma, 1),
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n=!<>(),".contains(chars[i]) {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
                continue;
            }
        };
        out.push(tok);
        i += len;
    }
    Ok(out)
}

fn valid_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn valid_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Whether `key` is a valid label key (`[prefix/]name`); returns the reason when not.
pub(crate) fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if !valid_dns_subdomain(p) {
            return Err(format!(
                "prefix part {p:?} must be a lowercase RFC 1123 subdomain"
            ));
        }
    }
    if !valid_name_part(name) {
        return Err(format!(
            "name part {name:?} must consist of alphanumeric characters, '-', '_' or '.', and \
             must start and end with an alphanumeric character (at most 63 characters)"
        ));
    }
    Ok(())
}

/// Whether `value` is a valid label value; returns the reason when not.
pub(crate) fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || valid_name_part(value) {
        Ok(())
    } else {
        Err(format!(
            "a valid label must be an empty string or consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 \
             characters), got {value:?}"
        ))
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn key(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(k)) => {
                check_label_key(&k)?;
                Ok(k)
            }
            other => Err(format!(
                "found {}, expected: identifier",
                show(other.as_ref())
            )),
        }
    }

    fn value(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Ident(_)) => match self.next() {
                Some(Token::Ident(v)) => {
                    check_label_value(&v)?;
                    Ok(v)
                }
                _ => unreachable!("peeked an identifier"),
            },
            // `a=` selects the empty value.
            None | Some(Token::Comma) | Some(Token::Close) => Ok(String::new()),
            Some(other) => Err(format!("found {}, expected: identifier", show(Some(other)))),
        }
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        if self.next() != Some(Token::Open) {
            return Err("expected '(' after in/notin".to_string());
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => break,
                other => {
                    return Err(format!(
                        "found {}, expected: ',' or ')'",
                        show(other.as_ref())
                    ))
                }
            }
        }
        Ok(values)
    }

    fn integer(&mut self) -> Result<i64, String> {
        match self.next() {
            Some(Token::Ident(v)) => v.parse().map_err(|_| {
                format!("for 'Gt', 'Lt' operators, the value must be an integer: {v}")
            }),
            other => Err(format!("found {}, expected: integer", show(other.as_ref()))),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.pos += 1;
            return Ok(Requirement::NotExists(self.key()?));
        }
        let key = self.key()?;
        Ok(match self.peek() {
            None | Some(Token::Comma) => Requirement::Exists(key),
            Some(Token::Eq) | Some(Token::DoubleEq) => {
                self.pos += 1;
                Requirement::Equals(key, self.value()?)
            }
            Some(Token::NotEq) => {
                self.pos += 1;
                Requirement::NotEquals(key, self.value()?)
            }
            Some(Token::Gt) => {
                self.pos += 1;
                Requirement::GreaterThan(key, self.integer()?)
            }
            Some(Token::Lt) => {
                self.pos += 1;
                Requirement::LessThan(key, self.integer()?)
            }
            Some(Token::Ident(op)) if op == "in" => {
                self.pos += 1;
                Requirement::In(key, self.set()?)
            }
            Some(Token::Ident(op)) if op == "notin" => {
                self.pos += 1;
                Requirement::NotIn(key, self.set()?)
            }
            Some(other) => {
                return Err(format!("found {}, expected an operator", show(Some(other))))
            }
        })
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let fail = |m: String| ApiError::bad_request(format!("unable to parse requirement: {m}"));
        let tokens = lex(s).map_err(fail)?;
        let mut p = Parser { tokens, pos: 0 };
        let mut reqs = Vec::new();
        while p.peek().is_some() {
            reqs.push(p.requirement().map_err(fail)?);
            match p.next() {
                None => break,
                Some(Token::Comma) => {
                    if p.peek().is_none() {
                        return Err(fail("trailing ','".to_string()));
                    }
                }
                Some(other) => {
                    return Err(fail(format!("found {}, expected: ','", show(Some(&other)))))
                }
            }
        }
        Ok(Self(reqs))
    }

    /// Builds the selector of a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(sel: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels.{k}: not a string"))?;
                reqs.push(Requirement::Equals(k.clone(), v.to_string()));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or_default().to_string();
                let values: Vec<String> = e["values"]
                    .as_array()
                    .map(|vs| {
                        vs.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                reqs.push(match e["operator"].as_str().unwrap_or_default() {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::NotExists(key),
                    other => return Err(format!("{other:?} is not a valid selector operator")),
                });
            }
        }
        Ok(Self(reqs))
    }

    /// Whether there are no requirements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::GreaterThan(k, n) => get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        })
    }

    /// The selector in query syntax (as `Scale.status.selector` shows it).
    pub fn to_query(&self) -> String {
        self.0
            .iter()
            .map(|r| match r {
                Requirement::Exists(k) => k.clone(),
                Requirement::NotExists(k) => format!("!{k}"),
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::GreaterThan(k, n) => format!("{k}>{n}"),
                Requirement::LessThan(k, n) => format!("{k}<{n}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A parsed field selector: `field=value` / `field!=value` terms, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

/// Fields each type can be selected by, besides `metadata.name` and `metadata.namespace`.
fn extra_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "namespaces") => &["status.phase"],
        ("", "secrets") => &["type"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses the `fieldSelector` query syntax for objects of `rt`.
    pub fn parse(s: &str, rt: &ResourceType) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in split_unescaped(s, ',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let (field, eq, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace")
                && !extra_fields(rt).contains(&field)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), eq, unescape(value.trim())));
        }
        Ok(Self(terms))
    }

    /// Whether there are no terms.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `obj` satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, value)| {
            let mut v = obj;
            for part in field.split('.') {
                v = &v[part];
            }
            let actual = match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (actual == *value) == *eq
        })
    }

    /// The `metadata.name` this selector pins, if any (what `kubectl wait` and `delete` send).
    pub fn name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            parts.last_mut().expect("non-empty").extend(['\\', c]);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("non-empty").push(c);
        }
    }
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{DEPLOYMENTS, PODS};
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap()
    }

    #[test]
    fn parses_every_operator() {
        use Requirement::*;
        let s = sel("a=b, c==d,e!=f,g in (h, i),j notin (k),l,!m,n>3,o<4");
        assert_eq!(
            s.0,
            vec![
                Equals("a".into(), "b".into()),
                Equals("c".into(), "d".into()),
                NotEquals("e".into(), "f".into()),
                In("g".into(), vec!["h".into(), "i".into()]),
                NotIn("j".into(), vec!["k".into()]),
                Exists("l".into()),
                NotExists("m".into()),
                GreaterThan("n".into(), 3),
                LessThan("o".into(), 4),
            ]
        );
        assert!(sel("").is_empty());
        assert_eq!(
            sel("inferno.server.managed=true").0,
            vec![Equals("inferno.server.managed".into(), "true".into())]
        );
        assert_eq!(
            sel("app.kubernetes.io/name=x").0,
            vec![Equals("app.kubernetes.io/name".into(), "x".into())]
        );
        assert_eq!(sel("a=").0, vec![Equals("a".into(), String::new())]);
    }

    #[test]
    fn rejects_bad_selectors() {
        for bad in [
            "a b", "a in b", "a in (b", "=b", "a,", "a>b", "Bad_/x=1", "a=b c", "a=-b", "a notin",
        ] {
            let e = LabelSelector::parse(bad).unwrap_err();
            assert_eq!(e.code, 400, "{bad}");
            assert!(
                e.message.starts_with("unable to parse requirement"),
                "{bad}"
            );
        }
    }

    #[test]
    fn matching() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        assert!(sel("app=web").matches(&l));
        assert!(!sel("app=db").matches(&l));
        assert!(sel("app!=db").matches(&l));
        assert!(sel("missing!=x").matches(&l));
        assert!(sel("app in (db,web)").matches(&l));
        assert!(!sel("app notin (db,web)").matches(&l));
        assert!(sel("missing notin (x)").matches(&l));
        assert!(!sel("missing in (x)").matches(&l));
        assert!(sel("tier").matches(&l));
        assert!(!sel("!tier").matches(&l));
        assert!(sel("!missing").matches(&l));
        assert!(sel("n>4,n<6").matches(&l));
        assert!(!sel("n>5").matches(&l));
        assert!(!sel("app>1").matches(&l));
        assert!(sel("app=web,tier=front").matches(&l));
        assert!(!sel("app=web,tier=back").matches(&l));
    }

    #[test]
    fn from_label_selector_object() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .unwrap();
        assert!(s.matches(&labels(json!({"app": "web", "tier": "b"}))));
        assert!(!s.matches(&labels(json!({"app": "web"}))));
        assert_eq!(s.to_query(), "app=web,tier in (a,b)");
        assert!(LabelSelector::from_object(&json!({"matchExpressions": [
            {"key": "a", "operator": "Near"}]}))
        .is_err());
    }

    fn requirement() -> impl proptest::strategy::Strategy<Value = Requirement> {
        use proptest::prelude::*;
        let key = "[a-z][a-z0-9]{0,4}([.][a-z][a-z0-9-]{0,4}[a-z0-9]){0,2}(/[a-z][a-z0-9_.-]{0,5}[a-z0-9])?";
        let value = "[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,6}[a-zA-Z0-9])?";
        let values = proptest::collection::vec(value, 1..4);
        prop_oneof![
            key.prop_map(Requirement::Exists),
            key.prop_map(Requirement::NotExists),
            (key, value).prop_map(|(k, v)| Requirement::Equals(k, v)),
            (key, value).prop_map(|(k, v)| Requirement::NotEquals(k, v)),
            (key, values.clone()).prop_map(|(k, v)| Requirement::In(k, v)),
            (key, values).prop_map(|(k, v)| Requirement::NotIn(k, v)),
            (key, -99i64..99).prop_map(|(k, n)| Requirement::GreaterThan(k, n)),
        ]
    }

    proptest::proptest! {
        /// Printing a selector and parsing it back gives the same selector.
        #[test]
        fn query_syntax_round_trips(reqs in proptest::collection::vec(requirement(), 0..5)) {
            let sel = LabelSelector(reqs);
            proptest::prop_assert_eq!(LabelSelector::parse(&sel.to_query()).unwrap(), sel);
        }

        /// `!=` and `notin` are the negations of `=` and `in`, labels present or not.
        #[test]
        fn negations(k in "[a-z]{1,3}", v in "[a-z]{1,3}", l in proptest::option::of("[a-z]{1,3}")) {
            let mut labels = Map::new();
            if let Some(l) = l {
                labels.insert(k.clone(), json!(l));
            }
            let eq = LabelSelector(vec![Requirement::Equals(k.clone(), v.clone())]);
            let ne = LabelSelector(vec![Requirement::NotEquals(k.clone(), v.clone())]);
            let is_in = LabelSelector(vec![Requirement::In(k.clone(), vec![v.clone()])]);
            let not_in = LabelSelector(vec![Requirement::NotIn(k, vec![v])]);
            proptest::prop_assert_ne!(eq.matches(&labels), ne.matches(&labels));
            proptest::prop_assert_eq!(eq.matches(&labels), is_in.matches(&labels));
            proptest::prop_assert_ne!(is_in.matches(&labels), not_in.matches(&labels));
        }
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata": {"name": "p1", "namespace": "ns"},
                         "status": {"phase": "Running"}});
        let f = FieldSelector::parse("metadata.name=p1,status.phase!=Pending", &PODS).unwrap();
        assert!(f.matches(&pod));
        assert_eq!(f.name(), Some("p1"));
        let f = FieldSelector::parse("metadata.namespace==other", &PODS).unwrap();
        assert!(!f.matches(&pod));
        let e = FieldSelector::parse("status.phase=Running", &DEPLOYMENTS).unwrap_err();
        assert_eq!(e.message, "field label not supported: status.phase");
        assert!(FieldSelector::parse("nonsense", &PODS).is_err());
        let f = FieldSelector::parse(r"metadata.name=a\,b", &PODS).unwrap();
        assert_eq!(f.name(), Some("a,b"));
    }
}
