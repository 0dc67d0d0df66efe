//! The fast path's deserializer: serde_json's own, wrapped so that it refuses every input on
//! which serde's derives and the schema walk (`walk`) could read something different. What it
//! refuses is not an error of the data, only a text the fast path leaves to the walk.
//!
//! serde's derives are more lenient than Go in three ways, and each is refused here:
//! - a key the type does not read is skipped silently (the walk records it, or folds its case,
//!   or rewrites it as a legacy shape): `deserialize_ignored_any` is refused, so any such key
//!   ends the fast path;
//! - a struct may be given as a JSON array, its fields by position: structs are asked for as
//!   maps only;
//! - anything the types do not use (`deserialize_any`, ...) could hide either of the above
//!   below it: refused, so a future field of another shape takes the walk until this file
//!   learns it.
//!
//! Leaves are left to serde_json, whose checks are the walk's: `null` is no string, number,
//! boolean, array or object; an `i64` must be an integer literal in range; an `f64` takes any
//! number, converted with `as` exactly as the walk converts it. An `Option` (a field whose
//! absence means something other than its zero, such as `improveIterations`) is read when it
//! holds a value, strictly; its `null` is refused like every other, and the walk then drops
//! it, which leaves the field absent (`None`), as Go leaves a nil pointer. serde_ignored would
//! find the skipped keys, but not the arrays read as structs, so this wrapper is needed anyway,
//! and with it refusing one method does what serde_ignored would.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Reads `T` from the whole of `text`, or `None` if `T`'s derive and the walk might disagree.
pub(super) fn from_str<T: de::DeserializeOwned>(text: &str) -> Option<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Strict(&mut de)).ok()?;
    de.end().ok()?;
    Some(value)
}

/// A deserializer (or, as a seed, the seed of one) that reads nested values strictly too.
struct Strict<D>(D);

/// Forwards a leaf to serde_json: a leaf has nothing nested that could escape the wrapper.
macro_rules! leaf {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(visitor)
        }
    )*};
}

/// Refuses what the data types never ask for.
macro_rules! refuse {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* _: V) -> Result<V::Value, D::Error> {
            Err(de::Error::custom(concat!("not on the fast path: ", stringify!($method))))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    leaf!(
        deserialize_bool,
        deserialize_i64,
        deserialize_f64,
        deserialize_string
    );

    // Go reads a struct only from an object; serde_json would also take an array.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(Nested(visitor))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(Nested(visitor))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_seq(Nested(visitor))
    }

    // An optional field only reaches here when its key is there; serde_json hands `null` to
    // `visit_none`, which `Given` refuses.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(Given(visitor))
    }

    refuse!(
        deserialize_ignored_any(),
        deserialize_any(),
        deserialize_i8(),
        deserialize_i16(),
        deserialize_i32(),
        deserialize_u8(),
        deserialize_u16(),
        deserialize_u32(),
        deserialize_u64(),
        deserialize_f32(),
        deserialize_char(),
        deserialize_str(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_unit(),
        deserialize_identifier(),
        deserialize_unit_struct(_name: &'static str),
        deserialize_newtype_struct(_name: &'static str),
        deserialize_tuple(_len: usize),
        deserialize_tuple_struct(_name: &'static str, _len: usize),
        deserialize_enum(_name: &'static str, _variants: &'static [&'static str]),
    );
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Strict<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

/// The visitor of an object or array, handing its entries or items on strictly. serde_json's
/// `deserialize_map` and `deserialize_seq` call nothing else of it.
struct Nested<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Nested<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Entries(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Items(seq))
    }
}

/// The visitor of an optional value, handing a given value on strictly. Its `visit_none` (a
/// `null`) is serde's default, an error: the walk reads that text.
struct Given<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Given<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Strict(d))
    }
}

/// An object's entries. Keys (field names, map keys) are strings with nothing nested.
struct Entries<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// An array's items.
struct Items<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Items<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.0.next_element_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::from_str;
    use crate::types::*;
    use std::collections::BTreeMap;

    /// What serde_json alone accepts, and the wrapper must refuse.
    fn refused<T: serde::de::DeserializeOwned>(text: &str) {
        assert!(
            serde_json::from_str::<T>(text).is_ok(),
            "serde_json: {text}"
        );
        assert!(from_str::<T>(text).is_none(), "accepted: {text}");
    }

    #[test]
    fn refuses_what_serde_derive_accepts_and_go_does_not() {
        // Structs given as arrays, their fields by position.
        refused::<OptimizerData>(r#"[{"unlimited":true}]"#);
        refused::<OptimizerData>("[[true]]");
        refused::<ServerData>(r#"{"servers":[["a","P"]]}"#);
        refused::<AllocationSolution>(r#"{"allocations":{"s":["G2",2]}}"#);
        // Keys the types do not read, wherever they are and whatever their value.
        refused::<CapacityData>(r#"{"count":[],"cont":1}"#);
        refused::<CapacityData>(r#"{"count":[{"type":"A","Count":1}]}"#);
        refused::<CapacityData>(r#"{"count":[{"type":"A","x":null}]}"#);
        refused::<ModelData>(r#"{"models":[{"name":"m","alpha":1}]}"#);
        refused::<ServerData>(r#"{"servers":[{"currentAlloc":{"load":{"avgLength":3}}}]}"#);
    }

    #[test]
    fn leaves_are_checked_as_the_walk_checks_them() {
        for bad in [
            "null",
            "1.0",
            "1e2",
            "-0",
            "9223372036854775808",
            "\"1\"",
            "true",
        ] {
            let text = format!(r#"{{"count":[{{"type":"A","count":{bad}}}]}}"#);
            assert!(from_str::<CapacityData>(&text).is_none(), "{bad}");
        }
        for bad in ["null", "\"1\"", "true", "{}", "[]"] {
            let text = format!(r#"{{"models":[{{"perfParms":{{"alpha":{bad}}}}}]}}"#);
            assert!(from_str::<ModelData>(&text).is_none(), "{bad}");
        }
        for bad in ["null", "1", "[]", "{}"] {
            let text = format!(r#"{{"optimizer":{{"solver":{bad}}}}}"#);
            assert!(from_str::<OptimizerData>(&text).is_none(), "{bad}");
        }
        for bad in ["null", "1.0", "1e2", "\"3\"", "true", "[]", "{}", "[3]"] {
            for field in ["improveIterations", "iterationLimit"] {
                let text = format!(r#"{{"optimizer":{{"{field}":{bad}}}}}"#);
                assert!(from_str::<OptimizerData>(&text).is_none(), "{field}: {bad}");
            }
        }
        for bad in ["null", "{}", r#"[null]"#, "1"] {
            let text = format!(r#"{{"servers":{bad}}}"#);
            assert!(from_str::<ServerData>(&text).is_none(), "{bad}");
        }
        assert!(from_str::<CapacityData>("null").is_none());
        assert!(from_str::<CapacityData>("{} x").is_none());
        let text = r#"{"count":[{"type":"A","count":1,"count":2}]}"#;
        assert!(from_str::<CapacityData>(text).is_none(), "duplicate field");
    }

    #[test]
    fn reads_the_current_shapes() {
        let text = r#"{"count":[{"type":"A","count":-9223372036854775808},{"count":3}]}"#;
        let count = from_str::<CapacityData>(text).unwrap().count;
        assert_eq!((count[0].count, count[1].count), (i64::MIN, 3));
        let text = r#"{"models":[{"perfParms":{"alpha":3,"beta":-0.0,"gamma":1e300}}]}"#;
        let p = from_str::<ModelData>(text).unwrap().models[0].perf_parms;
        assert_eq!((p.alpha, p.gamma), (3.0, 1e300));
        assert!(p.beta == 0.0 && p.beta.is_sign_negative());
        let text = r#"{"allocations":{"b":{"numReplicas":2},"a":{}}}"#;
        let allocations = from_str::<AllocationSolution>(text).unwrap().allocations;
        let expected = BTreeMap::from([
            ("a".to_owned(), AllocationData::default()),
            (
                "b".to_owned(),
                AllocationData {
                    num_replicas: 2,
                    ..Default::default()
                },
            ),
        ]);
        assert_eq!(allocations, expected);
        assert_eq!(
            from_str::<OptimizerData>("{}"),
            Some(OptimizerData::default())
        );
        // Optional fields: absent is `None`, and a given value, 0 included, is `Some`.
        let o = from_str::<OptimizerData>(r#"{"optimizer":{"solver":"greedy"}}"#).unwrap();
        assert_eq!(
            (o.optimizer.improve_iterations, o.optimizer.iteration_limit),
            (None, None)
        );
        let text = r#"{"optimizer":{"improveIterations":0,"iterationLimit":-5}}"#;
        let o = from_str::<OptimizerData>(text).unwrap().optimizer;
        assert_eq!(
            (o.improve_iterations, o.iteration_limit),
            (Some(0), Some(-5))
        );
    }
}
