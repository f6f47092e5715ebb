//! Python types for JSON vars: objects become `TypedDict`s (functional syntax,
//! so keys that are not identifiers still work), arrays `list[...]` of the
//! union of their element types. Identical shapes share one `TypedDict`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// Collects the `TypedDict` declarations that JSON var types refer to.
#[derive(Debug, Default)]
pub struct Shapes {
    /// `(name, body)` in declaration order.
    decls: Vec<(String, String)>,
    /// Body to declared name, and the names taken: lookups stay O(1) with
    /// thousands of JSON vars.
    by_body: HashMap<String, String>,
    names: HashSet<String>,
}

impl Shapes {
    /// The Python type of `value`; `name` seeds the names of nested `TypedDict`s.
    pub fn type_of(&mut self, name: &str, value: &Value) -> String {
        match value {
            Value::Null => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Number(n) if n.is_f64() => "float".into(),
            Value::Number(_) => "int".into(),
            Value::String(_) => "str".into(),
            Value::Array(items) => {
                let mut types: Vec<String> = Vec::new();
                let mut seen = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    let t = self.type_of(&format!("{name}_{i}"), item);
                    if seen.insert(t.clone()) {
                        types.push(t);
                    }
                }
                if types.is_empty() {
                    "list[Any]".into()
                } else {
                    format!("list[{}]", types.join(" | "))
                }
            }
            Value::Object(map) => {
                let fields: Vec<String> = map
                    .iter()
                    .map(|(k, v)| {
                        let t = self.type_of(&format!("{name}_{}", sanitize(k)), v);
                        format!("{}: {t}", py_str(k))
                    })
                    .collect();
                let body = format!("{{{}}}", fields.join(", "));
                if let Some(existing) = self.by_body.get(&body) {
                    return existing.clone();
                }
                let mut decl_name = name.to_string();
                let mut n = 2;
                while self.names.contains(&decl_name) {
                    decl_name = format!("{name}{n}");
                    n += 1;
                }
                self.names.insert(decl_name.clone());
                self.by_body.insert(body.clone(), decl_name.clone());
                self.decls.push((decl_name.clone(), body));
                decl_name
            }
        }
    }

    /// The `Name = TypedDict("Name", {...})` lines, in dependency order.
    pub fn render(&self) -> String {
        self.decls
            .iter()
            .map(|(name, body)| format!("{name} = TypedDict({}, {body})\n", py_str(name)))
            .collect()
    }
}

/// A Python identifier fragment made from an arbitrary key.
pub fn sanitize(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// A double-quoted Python string literal.
pub fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_shapes() {
        let mut shapes = Shapes::default();
        let v: Value = serde_json::json!({"a": 1, "b": [true, null], "c": {"d-e": 1.5}, "f": [{"x": 1}, {"x": 2}], "g": []});
        let t = shapes.type_of("_Var_CONF", &v);
        assert_eq!(t, "_Var_CONF");
        assert_eq!(
            shapes.render(),
            "_Var_CONF_c = TypedDict(\"_Var_CONF_c\", {\"d-e\": float})\n\
             _Var_CONF_f_0 = TypedDict(\"_Var_CONF_f_0\", {\"x\": int})\n\
             _Var_CONF = TypedDict(\"_Var_CONF\", {\"a\": int, \"b\": list[bool | None], \"c\": _Var_CONF_c, \"f\": list[_Var_CONF_f_0], \"g\": list[Any]})\n"
        );
    }

    #[test]
    fn scalars_and_quoting() {
        let mut shapes = Shapes::default();
        assert_eq!(shapes.type_of("x", &serde_json::json!(3)), "int");
        assert_eq!(shapes.type_of("x", &serde_json::json!("s")), "str");
        assert_eq!(py_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(sanitize("my-key.1"), "my_key_1");
    }
}
