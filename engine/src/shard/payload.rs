//! Payload edits at key paths (`set_payload` with `key`, `delete_payload`).

use serde_json::{Map, Value};
use tessera_types::Payload;

use crate::filter::path::{JsonPath, Step};

/// Merges `values` into the object at `path` (or the top level), creating missing
/// objects and replacing scalars on the way. An array met on the way (or at the end)
/// applies the merge to each of its object elements.
pub(crate) fn merge(payload: &mut Payload, path: Option<&JsonPath>, values: &Payload) {
    let steps = path.map_or(&[][..], JsonPath::steps);
    let mut root = Value::Object(std::mem::take(payload));
    merge_into(&mut root, steps, values);
    *payload = into_object(root);
}

/// Removes what `path` names; arrays on the way are handled element by element.
pub(crate) fn remove(payload: &mut Payload, path: &JsonPath) {
    let mut root = Value::Object(std::mem::take(payload));
    remove_in(&mut root, path.steps());
    *payload = into_object(root);
}

fn into_object(value: Value) -> Payload {
    match value {
        Value::Object(map) => map,
        _ => Payload::new(),
    }
}

fn object(target: &mut Value) -> &mut Map<String, Value> {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    match target {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object above"),
    }
}

fn merge_into(target: &mut Value, steps: &[Step], values: &Payload) {
    if let Value::Array(items) = target {
        // Only explicit `[]` / `[N]` steps address an array itself.
        if !matches!(steps.first(), Some(Step::Each | Step::Index(_))) {
            items
                .iter_mut()
                .filter(|item| item.is_object())
                .for_each(|item| merge_into(item, steps, values));
            return;
        }
    }
    match steps.split_first() {
        None => {
            let map = object(target);
            for (k, v) in values {
                map.insert(k.clone(), v.clone());
            }
        }
        Some((Step::Key(key), rest)) => {
            let child = object(target)
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            merge_into(child, rest, values);
        }
        Some((Step::Each, rest)) => {
            if let Value::Array(items) = target {
                items
                    .iter_mut()
                    .for_each(|item| merge_into(item, rest, values));
            }
        }
        Some((Step::Index(i), rest)) => {
            if let Some(item) = target.as_array_mut().and_then(|a| a.get_mut(*i)) {
                merge_into(item, rest, values);
            }
        }
    }
}

fn remove_in(target: &mut Value, steps: &[Step]) {
    let Some((step, rest)) = steps.split_first() else {
        return;
    };
    match (step, target) {
        (Step::Key(_), Value::Array(items)) => {
            items.iter_mut().for_each(|item| remove_in(item, steps));
        }
        (Step::Key(key), Value::Object(map)) => {
            if rest.is_empty() {
                map.remove(key);
            } else if let Some(child) = map.get_mut(key) {
                remove_in(child, rest);
            }
        }
        (Step::Each, Value::Array(items)) => {
            if rest.is_empty() {
                items.clear();
            } else {
                items.iter_mut().for_each(|item| remove_in(item, rest));
            }
        }
        (Step::Index(i), Value::Array(items)) => {
            if rest.is_empty() {
                if *i < items.len() {
                    items.remove(*i);
                }
            } else if let Some(item) = items.get_mut(*i) {
                remove_in(item, rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).unwrap()
    }

    #[test]
    fn merge_top_level_and_at_paths() {
        let mut p = obj(json!({"a": 1, "b": {"c": 2}, "s": "x", "arr": [{"k": 1}, 5]}));
        merge(&mut p, None, &obj(json!({"a": 10, "z": true})));
        assert_eq!(p["a"], json!(10));
        assert_eq!(p["z"], json!(true));
        merge(&mut p, Some(&path("b")), &obj(json!({"d": 3})));
        assert_eq!(p["b"], json!({"c": 2, "d": 3}));
        merge(&mut p, Some(&path("new.deep")), &obj(json!({"e": 4})));
        assert_eq!(p["new"], json!({"deep": {"e": 4}}));
        merge(&mut p, Some(&path("s")), &obj(json!({"f": 5})));
        assert_eq!(p["s"], json!({"f": 5}));
        merge(&mut p, Some(&path("arr")), &obj(json!({"g": 6})));
        assert_eq!(p["arr"], json!([{"k": 1, "g": 6}, 5]));
        merge(&mut p, Some(&path("arr[0].h")), &obj(json!({"i": 7})));
        assert_eq!(p["arr"], json!([{"k": 1, "g": 6, "h": {"i": 7}}, 5]));
    }

    #[test]
    fn remove_at_paths() {
        let mut p = obj(
            json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [{"x": 1, "y": 2}, {"x": 3}], "n": [1, 2, 3]}),
        );
        remove(&mut p, &path("a"));
        remove(&mut p, &path("b.c"));
        remove(&mut p, &path("l.x"));
        remove(&mut p, &path("n[1]"));
        remove(&mut p, &path("missing.key"));
        assert_eq!(
            Value::Object(p),
            json!({"b": {"d": 3}, "l": [{"y": 2}, {}], "n": [1, 3]})
        );
    }
}
