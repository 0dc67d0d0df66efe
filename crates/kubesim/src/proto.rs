//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`) of the few objects kubectl
//! creates through typed clients: `kubectl create configmap|secret|namespace` send them that
//! way. The `k8s\0` envelope (`runtime.Unknown`) is unwrapped and the object decoded to the JSON
//! form; other kinds are refused with 415 (clients then have to send JSON).

use crate::error::ApiError;
use serde_json::{json, Map, Value};

/// Content type of protobuf bodies.
pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

struct Reader<'a> {
    buf: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first()?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The next `(field number, value)`, `None` at the end; `Err` on malformed input.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ()> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint().ok_or(())?;
        let field = match tag & 7 {
            0 => Field::Varint(self.varint().ok_or(())?),
            1 | 5 => {
                let n = if tag & 7 == 1 { 8 } else { 4 };
                self.buf = self.buf.get(n..).ok_or(())?;
                Field::Other
            }
            2 => {
                let len = usize::try_from(self.varint().ok_or(())?).map_err(|_| ())?;
                let bytes = self.buf.get(..len).ok_or(())?;
                self.buf = &self.buf[len..];
                Field::Bytes(bytes)
            }
            _ => return Err(()),
        };
        Ok(Some((tag >> 3, field)))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ()> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, ()> {
    String::from_utf8(b.to_vec()).map_err(|_| ())
}

fn base64(b: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A `map<string, string|bytes>` entry.
fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), ()> {
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x)?,
            (2, Field::Bytes(x)) if bytes_value => v = json!(base64(x)),
            (2, Field::Bytes(x)) => v = json!(string(x)?),
            _ => {}
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, ()> {
    let mut m = Map::new();
    let insert_map = |m: &mut Map<String, Value>, key: &str, entry: (String, Value)| {
        let e = m.entry(key).or_insert_with(|| json!({}));
        e[entry.0] = entry.1;
    };
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => drop(m.insert("name".into(), json!(string(x)?))),
            (2, Field::Bytes(x)) => drop(m.insert("generateName".into(), json!(string(x)?))),
            (3, Field::Bytes(x)) => drop(m.insert("namespace".into(), json!(string(x)?))),
            (5, Field::Bytes(x)) => drop(m.insert("uid".into(), json!(string(x)?))),
            (6, Field::Bytes(x)) => drop(m.insert("resourceVersion".into(), json!(string(x)?))),
            (11, Field::Bytes(x)) => insert_map(&mut m, "labels", map_entry(x, false)?),
            (12, Field::Bytes(x)) => insert_map(&mut m, "annotations", map_entry(x, false)?),
            (14, Field::Bytes(x)) => {
                let list = m.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(string(x)?));
                }
            }
            _ => {}
        }
    }
    m.retain(|_, v| v.as_str() != Some(""));
    Ok(Value::Object(m))
}

fn decode_kind(kind: &str, raw: &[u8]) -> Result<Option<Value>, ()> {
    let mut obj = json!({"apiVersion": "v1", "kind": kind});
    for (n, f) in fields(raw)? {
        let x = match f {
            Field::Bytes(x) => x,
            // ConfigMap.immutable = 4, Secret.immutable = 5.
            Field::Varint(v) if (kind, n) == ("ConfigMap", 4) || (kind, n) == ("Secret", 5) => {
                obj["immutable"] = json!(v != 0);
                continue;
            }
            _ => continue,
        };
        match (kind, n) {
            (_, 1) => obj["metadata"] = object_meta(x)?,
            ("ConfigMap", 2) | ("Secret", 4) => {
                let field = if kind == "Secret" {
                    "stringData"
                } else {
                    "data"
                };
                let (k, v) = map_entry(x, false)?;
                obj[field][k] = v;
            }
            ("ConfigMap", 3) | ("Secret", 2) => {
                let field = if kind == "Secret" {
                    "data"
                } else {
                    "binaryData"
                };
                let (k, v) = map_entry(x, true)?;
                obj[field][k] = v;
            }
            ("Secret", 3) => obj["type"] = json!(string(x)?),
            ("Namespace", 2) => {
                for (m, f) in fields(x)? {
                    if let (1, Field::Bytes(s)) = (m, f) {
                        let list = obj["spec"]["finalizers"].take();
                        let mut list = list.as_array().cloned().unwrap_or_default();
                        list.push(json!(string(s)?));
                        obj["spec"]["finalizers"] = json!(list);
                    }
                }
            }
            ("ConfigMap" | "Secret" | "Namespace", _) => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(obj))
}

/// Decodes a protobuf body to the object's JSON form.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = || ApiError::bad_request("error decoding protobuf body");
    let payload = body.strip_prefix(b"k8s\0").ok_or_else(bad)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(payload).map_err(|()| bad())? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (m, f) in fields(tm).map_err(|()| bad())? {
                    match (m, f) {
                        (1, Field::Bytes(x)) => api_version = string(x).map_err(|()| bad())?,
                        (2, Field::Bytes(x)) => kind = string(x).map_err(|()| bad())?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    let unsupported = || {
        ApiError::unsupported_media_type(&format!("{CONTENT_TYPE} ({api_version}, Kind={kind})"))
    };
    if api_version != "v1" {
        return Err(unsupported());
    }
    decode_kind(&kind, raw)
        .map_err(|()| bad())?
        .ok_or_else(unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        [field(1, k.as_bytes()), field(2, v)].concat()
    }

    #[test]
    fn decodes_a_config_map() {
        let meta = [
            field(1, b"cm"),
            field(3, b"infer"),
            field(11, &entry("app", b"x")),
        ]
        .concat();
        let cm = [
            field(1, &meta),
            field(2, &entry("a.json", b"{}")),
            field(3, &entry("bin", b"\x00\x01\x02\x03")),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &cm)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "infer", "labels": {"app": "x"}},
                   "data": {"a.json": "{}"}, "binaryData": {"bin": "AAECAw=="}})
        );
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta)].concat();
        assert_eq!(decode(&body).unwrap_err().code, 415);
        assert_eq!(decode(b"nope").unwrap_err().code, 400);
        assert_eq!(base64(b"abcd"), "YWJjZA==");
    }
}
