//! Payload key paths: `a.b`, `a[].b`, `a[0].b`, and `"key.with.dots"` segments.

use serde_json::Value;

use crate::point::Payload;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member. As in Qdrant, an array met on the way is not
    /// searched unless the path says `[]`.
    Key(String),
    /// Every element of an array (`[]`).
    Each,
    /// One element of an array (`[N]`).
    Index(usize),
}

/// A parsed key path; always starts with a [`Step::Key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(path: &str) -> Result<JsonPath, String> {
        let bad = |why: &str| format!("Invalid payload key `{path}`: {why}");
        let mut steps = Vec::new();
        let mut rest = path;
        loop {
            let (name, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted.find('"').ok_or_else(|| bad("unterminated quote"))?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            if name.is_empty() {
                return Err(bad("empty key"));
            }
            steps.push(Step::Key(name.to_string()));
            rest = after;
            while let Some(inner) = rest.strip_prefix('[') {
                let end = inner.find(']').ok_or_else(|| bad("unterminated `[`"))?;
                let index = &inner[..end];
                steps.push(if index.is_empty() {
                    Step::Each
                } else {
                    Step::Index(index.parse().map_err(|_| bad("bad array index"))?)
                });
                rest = &inner[end + 1..];
            }
            if rest.is_empty() {
                return Ok(JsonPath { steps });
            }
            rest = rest
                .strip_prefix('.')
                .ok_or_else(|| bad("expected `.` between keys"))?;
        }
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The values the path reaches; a value that is itself an array is
    /// returned as one value.
    pub fn raw_values<'a>(&self, payload: &'a Payload) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some((Step::Key(first), rest)) = self.steps.split_first() {
            if let Some(value) = payload.get(first) {
                walk(value, rest, &mut out);
            }
        }
        out
    }

    /// Like [`raw_values`](Self::raw_values), with array values replaced by their elements:
    /// the values a field condition is checked against.
    pub fn values<'a>(&self, payload: &'a Payload) -> Vec<&'a Value> {
        let mut out = Vec::new();
        for value in self.raw_values(payload) {
            match value {
                Value::Array(items) => out.extend(items),
                other => out.push(other),
            }
        }
        out
    }
}

/// The part of `payload` a payload selector keeps, as Qdrant cuts it: with
/// `include`, the values on or above any pattern's path (`a.b` keeps `a`
/// with only its `b`); otherwise all but the values at or below a pattern.
/// Array elements are matched as `[]`.
pub fn select(payload: &Payload, patterns: &[JsonPath], include: bool) -> Payload {
    let keep = |path: &[Step]| {
        if include {
            patterns
                .iter()
                .any(|p| p.steps.iter().zip(path).all(|(a, b)| a == b))
        } else {
            !patterns.iter().any(|p| path.starts_with(&p.steps))
        }
    };
    let mut path = Vec::new();
    let mut out = Payload::new();
    for (key, value) in payload {
        path.push(Step::Key(key.clone()));
        if keep(&path) {
            out.insert(key.clone(), select_value(value, &mut path, &keep));
        }
        path.pop();
    }
    out
}

fn select_value(value: &Value, path: &mut Vec<Step>, keep: &dyn Fn(&[Step]) -> bool) -> Value {
    match value {
        Value::Array(items) => {
            path.push(Step::Each);
            let kept = if keep(path) {
                items.iter().map(|v| select_value(v, path, keep)).collect()
            } else {
                Vec::new()
            };
            path.pop();
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut kept = serde_json::Map::new();
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                if keep(path) {
                    kept.insert(key.clone(), select_value(child, path, keep));
                }
                path.pop();
            }
            Value::Object(kept)
        }
        other => other.clone(),
    }
}

fn walk<'a>(value: &'a Value, steps: &[Step], out: &mut Vec<&'a Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(value);
        return;
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => {
            if let Some(child) = map.get(key) {
                walk(child, rest, out);
            }
        }
        (Step::Each, Value::Array(items)) => items.iter().for_each(|v| walk(v, rest, out)),
        (Step::Index(i), Value::Array(items)) => {
            if let Some(child) = items.get(*i) {
                walk(child, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_paths() {
        let p = JsonPath::parse("a[].b[2].\"c.d\"").unwrap();
        assert_eq!(
            p.steps(),
            &[
                Step::Key("a".into()),
                Step::Each,
                Step::Key("b".into()),
                Step::Index(2),
                Step::Key("c.d".into())
            ]
        );
        for bad in ["", "a.", ".a", "a..b", "a[", "a[x]", "a]b", "\"a"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selects_nested_paths_as_qdrant() {
        let p = payload(json!({
            "country": {"name": "DE", "capital": "Berlin", "cities": [{"name": "B", "pop": 3}]},
            "n": 1
        }));
        let paths = |ps: &[&str]| -> Vec<JsonPath> {
            ps.iter().map(|s| JsonPath::parse(s).unwrap()).collect()
        };
        let include = select(&p, &paths(&["country.name", "country.capital"]), true);
        assert_eq!(
            Value::Object(include),
            json!({"country": {"name": "DE", "capital": "Berlin"}})
        );
        let include = select(&p, &paths(&["country.cities[].name"]), true);
        assert_eq!(
            Value::Object(include),
            json!({"country": {"cities": [{"name": "B"}]}})
        );
        let exclude = select(&p, &paths(&["country.cities", "n"]), false);
        assert_eq!(
            Value::Object(exclude),
            json!({"country": {"name": "DE", "capital": "Berlin"}})
        );
    }

    #[test]
    fn walks_into_arrays_only_where_the_path_says() {
        let p = payload(json!({"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}], "x": {"y": null}}));
        let vals = |path: &str| JsonPath::parse(path).unwrap().values(&p);
        assert!(vals("a.b").is_empty());
        assert_eq!(vals("a[].b"), vec![&json!(1), &json!(2), &json!(3)]);
        assert_eq!(vals("a[1].b"), vec![&json!(2), &json!(3)]);
        assert_eq!(vals("x.y"), vec![&Value::Null]);
        assert!(vals("nope.b").is_empty());
        let raw = JsonPath::parse("a[].b").unwrap().raw_values(&p);
        assert_eq!(raw, vec![&json!(1), &json!([2, 3])]);
    }
}
