//! Property tests: the parsers and the validation never panic, on random text and on damaged
//! copies of the sample files; keys in any case and random values round-trip.

use crate::{sample_dir, FILES};
use inferno_api::*;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

/// The twelve sample files' texts.
fn samples() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let mut texts = Vec::new();
        for dir in ["small", "large"] {
            for file in FILES {
                texts.push(std::fs::read_to_string(sample_dir(dir).join(file)).unwrap());
            }
        }
        texts
    })
}

fn base() -> &'static SystemSpec {
    static SPEC: OnceLock<SystemSpec> = OnceLock::new();
    SPEC.get_or_init(|| load_dir(&sample_dir("small")).unwrap().spec)
}

/// Feeds `text` to every parser; validates whatever parses. Must not panic.
fn exercise(text: &str) {
    let files = FileNames::default();
    let validate_with = |edit: &dyn Fn(&mut SystemSpec)| {
        let mut spec = base().clone();
        edit(&mut spec);
        let _ = validate(&mut spec.clone(), &files);
        let _ = check(spec, &files).map_err(|e| e.to_string());
    };
    if let Ok(d) = parse_accelerators(text, "a") {
        validate_with(&|s| s.accelerator_data = d.clone());
    }
    if let Ok(d) = parse_capacity(text, "c") {
        validate_with(&|s| s.capacity_data = d.clone());
    }
    if let Ok(d) = parse_models(text, "m") {
        validate_with(&|s| s.model_data = d.clone());
    }
    if let Ok(d) = parse_optimizer(text, "o") {
        validate_with(&|s| s.optimizer_data = d.clone());
    }
    if let Ok(d) = parse_servers(text, "s") {
        validate_with(&|s| s.server_data = d.clone());
    }
    if let Ok(d) = parse_service_classes(text, "sc") {
        validate_with(&|s| s.service_class_data = d.clone());
    }
    if let Ok(d) = parse_system(text, "sys") {
        validate_with(&|s| *s = d.clone());
    }
    let _ = parse_solution(text, "sol").map_err(|e| e.to_string());
}

/// Mostly-JSON text: structural characters, digits, some keys and letters.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("-1.5e3".to_owned()),
        Just("7".to_owned()),
        "\"[a-zA-Z-]{0,12}\"",
        prop::sample::select(
            &[
                "\"models\"",
                "\"servers\"",
                "\"count\"",
                "\"serviceClasses\"",
                "\"accelerators\"",
                "\"optimizer\"",
                "\"system\"",
                "\"modelTargets\"",
                "\"currentAlloc\"",
                "\"load\"",
                "\"perfParms\"",
                "\"allocations\"",
                "\"AvgInTokens\"",
                "\"alpha\"",
                "\"model\"",
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// Flips the case of key letters chosen by `seed` (keys of objects only, not values).
fn flip_keys(v: &Value, seed: &mut u64) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key: String = k
                    .chars()
                    .map(|c| {
                        *seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        if *seed >> 63 == 1 {
                            if c.is_ascii_lowercase() {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            }
                        } else {
                            c
                        }
                    })
                    .collect();
                out.insert(key, flip_keys(v, seed));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| flip_keys(i, seed)).collect()),
        v => v.clone(),
    }
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        0.0..1e4
    ]
}

prop_compose! {
    fn model_row()(name in any::<String>(), acc in ".{0,8}", acc_count in any::<i64>(),
                   max_batch_size in any::<i64>(), at_tokens in any::<i64>(),
                   alpha in finite(), beta in finite(), gamma in finite())
                  -> ModelAcceleratorPerfData {
        ModelAcceleratorPerfData {
            name, acc, acc_count, max_batch_size, at_tokens,
            perf_parms: PerfParms { alpha, beta, gamma },
        }
    }
}

prop_compose! {
    fn server()(name in any::<String>(), class in ".{0,8}", keep in any::<bool>(),
                min in any::<i64>(), queue in any::<i64>(), rate in finite(),
                tokens in any::<(i64, i64)>(), cost in finite())
               -> ServerSpec {
        let mut s = ServerSpec { name, class, keep_accelerator: keep, min_num_replicas: min,
                                 max_queue_size: queue, ..Default::default() };
        s.current_alloc.load = ServerLoadSpec { arrival_rate: rate, throughput: 0.0,
                                                avg_in_tokens: tokens.0, avg_out_tokens: tokens.1,
                                                out_tokens_cv: 0.0 };
        s.desired_alloc.cost = cost;
        s
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_strings_do_not_panic(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn jsonish_text_does_not_panic(text in jsonish()) {
        exercise(&text);
    }

    #[test]
    fn truncated_samples_do_not_panic(file in 0..12usize, cut in 0.0..1.0f64) {
        let text = &samples()[file];
        // The sample files are ASCII, so every byte index is a char boundary.
        let end = (text.len() as f64 * cut) as usize;
        exercise(&text[..end]);
    }

    #[test]
    fn mutated_samples_do_not_panic(file in 0..12usize, at in 0.0..1.0f64, byte in any::<u8>()) {
        let mut bytes = samples()[file].clone().into_bytes();
        let i = ((bytes.len() as f64 * at) as usize).min(bytes.len() - 1);
        bytes[i] = byte;
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn keys_in_any_case_parse_the_same(file in 0..12usize, mut seed in any::<u64>()) {
        let text = &samples()[file];
        let flipped = flip_keys(&serde_json::from_str(text).unwrap(), &mut seed).to_string();
        let same = |a: &str, b: &str| match file % 6 {
            0 => parse_accelerators(a, "a").unwrap() == parse_accelerators(b, "b").unwrap(),
            1 => parse_capacity(a, "a").unwrap() == parse_capacity(b, "b").unwrap(),
            2 => parse_models(a, "a").unwrap() == parse_models(b, "b").unwrap(),
            3 => parse_optimizer(a, "a").unwrap() == parse_optimizer(b, "b").unwrap(),
            4 => parse_servers(a, "a").unwrap() == parse_servers(b, "b").unwrap(),
            _ => parse_service_classes(a, "a").unwrap() == parse_service_classes(b, "b").unwrap(),
        };
        prop_assert!(same(text, &flipped), "{}", flipped);
    }

    #[test]
    fn random_values_round_trip(models in prop::collection::vec(model_row(), 0..4),
                                servers in prop::collection::vec(server(), 0..4)) {
        let data = ModelData { models };
        let text = serde_json::to_string(&data).unwrap();
        prop_assert_eq!(parse_models(&text, "m").unwrap(), data);
        let data = ServerData { servers };
        let text = serde_json::to_string_pretty(&data).unwrap();
        prop_assert_eq!(parse_servers(&text, "s").unwrap(), data);
    }
}
