use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn canon(v: &Value) -> String {
    String::from_utf8(to_canonical_json(v)).unwrap()
}

#[test]
fn keys_sorted_at_every_depth_without_whitespace() {
    let v = json!({
        "b": 1,
        "a": {"d": [{"z": 1, "y": [true, false, null]}], "c": null},
        "aa": "x"
    });
    assert_eq!(
        canon(&v),
        r#"{"a":{"c":null,"d":[{"y":[true,false,null],"z":1}]},"aa":"x","b":1}"#
    );
}

#[test]
fn keys_sort_by_utf8_bytes() {
    let v = json!({"é": 1, "aa": 2, "a": 3, "B": 4, "": 5, "\u{1F600}": 6, "z": 7});
    // "" < "B" (0x42) < "a" < "aa" < "z" < "é" (0xC3…) < "😀" (0xF0…)
    assert_eq!(
        canon(&v),
        "{\"\":5,\"B\":4,\"a\":3,\"aa\":2,\"z\":7,\"é\":1,\"\u{1F600}\":6}"
    );
}

#[test]
fn insertion_order_does_not_matter() {
    let keys = ["delta", "alpha", "charlie", "bravo"];
    let mut forward = Map::new();
    let mut backward = Map::new();
    for k in keys {
        forward.insert(k.to_string(), json!(k.len()));
    }
    for k in keys.iter().rev() {
        backward.insert(k.to_string(), json!(k.len()));
    }
    assert_eq!(
        to_canonical_json(&Value::Object(forward)),
        to_canonical_json(&Value::Object(backward))
    );
}

#[test]
fn string_escapes() {
    let s = "q\" b\\ n\n r\r t\t b\u{8} f\u{c} one\u{1} us\u{1f} del\u{7f} slash/ é 😀";
    assert_eq!(
        canon(&json!(s)),
        "\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f one\\u0001 us\\u001f del\u{7f} slash/ é 😀\""
    );
    assert_eq!(canon(&json!("")), "\"\"");
}

#[test]
fn numbers() {
    let v = json!([
        0,
        -2,
        u64::MAX,
        i64::MIN,
        1.5,
        0.1,
        1e300,
        -0.25,
        2.0,
        -0.0,
        2.5e-7
    ]);
    assert_eq!(
        canon(&v),
        "[0,-2,18446744073709551615,-9223372036854775808,1.5e0,1e-1,1e300,-2.5e-1,2e0,-0e0,2.5e-7]"
    );
    // The same numbers written any other way read back to the same bytes.
    let other: Value =
        serde_json::from_str("[0,-2,18446744073709551615,-9223372036854775808,1.50,0.1,1E+300,-0.25,2.0,-0.0,0.00000025]")
            .unwrap();
    assert_eq!(canon(&other), canon(&v));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_json_no_floats() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A copy whose maps were filled in sorted key order, so serde_json's own
/// writer emits sorted keys whichever map type it was built with.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn parses_back_to_the_same_value_and_bytes(v in arb_json()) {
        let bytes = to_canonical_json(&v);
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(to_canonical_json(&back), bytes.clone());
    }

    #[test]
    fn agrees_with_serde_json_on_everything_but_float_style(v in arb_json_no_floats()) {
        // An independent writer over the same value with keys pre-sorted:
        // same escapes, same layout, no whitespace.
        prop_assert_eq!(serde_json::to_vec(&sorted(&v)).unwrap(), to_canonical_json(&v));
    }
}
