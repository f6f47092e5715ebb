//! Parse a wrangler config (JSONC via `jsonc-parser`, TOML via `toml`) into a
//! `serde_json::Value` plus a map from JSON pointer to source position, so
//! type errors found later by serde can still be reported as file:line:col.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonc_parser::ast;
use jsonc_parser::common::Ranged;
use serde_json::{Map, Number, Value};

use super::error::{ConfigError, Location};

/// The syntax a config file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `wrangler.json` / `wrangler.jsonc`: JSON with comments and trailing commas.
    Jsonc,
    /// `wrangler.toml`.
    Toml,
}

impl Format {
    /// The format implied by a file name (`.toml` is TOML, anything else JSONC).
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Jsonc,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    /// Where the key naming this value starts (absent for array items and the root).
    key: Option<usize>,
    /// Where the value starts.
    value: usize,
}

/// A parsed config file with positions for every value.
#[derive(Debug, Clone)]
pub struct SourceDoc {
    /// The file as named.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The document as JSON (TOML datetimes become strings).
    pub value: Value,
    spans: HashMap<String, Span>,
}

impl SourceDoc {
    /// Parse `text` read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<SourceDoc, ConfigError> {
        let format = Format::from_path(path);
        let mut spans = HashMap::new();
        let value = match format {
            Format::Jsonc => parse_jsonc(path, &text, &mut spans)?,
            Format::Toml => parse_toml(path, &text, &mut spans)?,
        };
        if !value.is_object() {
            return Err(ConfigError::invalid(
                Location::at(path, &text, spans.get("").map_or(0, |s| s.value)),
                "the config must be an object at the top level",
                Some("wrap the settings in `{ ... }`".into()),
            ));
        }
        Ok(SourceDoc {
            path: path.to_path_buf(),
            text,
            value,
            spans,
        })
    }

    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<SourceDoc, ConfigError> {
        SourceDoc::parse(path, read_text(path)?)
    }

    /// Where the value at JSON `pointer` starts (or its nearest existing parent).
    pub fn value_location(&self, pointer: &str) -> Location {
        let offset = self.lookup(pointer).map_or(0, |s| s.value);
        Location::at(&self.path, &self.text, offset)
    }

    /// Where the key naming the value at `pointer` starts (falls back to the value).
    pub fn key_location(&self, pointer: &str) -> Location {
        let offset = self.lookup(pointer).map_or(0, |s| s.key.unwrap_or(s.value));
        Location::at(&self.path, &self.text, offset)
    }

    /// Whether `pointer` names a value present in the file.
    pub fn has(&self, pointer: &str) -> bool {
        self.spans.contains_key(pointer)
    }

    fn lookup(&self, pointer: &str) -> Option<Span> {
        let mut p = pointer;
        loop {
            if let Some(span) = self.spans.get(p) {
                return Some(*span);
            }
            let cut = p.rfind('/')?;
            p = &p[..cut];
        }
    }
}

/// Byte order marks of encodings other than UTF-8 (wrangler's list).
const FOREIGN_BOMS: [(&[u8], &str); 4] = [
    (&[0x00, 0x00, 0xfe, 0xff], "UTF-32 BE"),
    (&[0xff, 0xfe, 0x00, 0x00], "UTF-32 LE"),
    (&[0xfe, 0xff], "UTF-16 BE"),
    (&[0xff, 0xfe], "UTF-16 LE"),
];

/// Read a config file as UTF-8 text. A UTF-8 byte order mark is dropped (as
/// wrangler and uv do); UTF-16/32 files, invalid UTF-8 and NUL bytes (which
/// neither JSON nor TOML allow; usually UTF-16 without a BOM) are errors
/// naming the file and position instead of a parser's puzzled message.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let not_utf8 = |location: Location, message: String| {
        ConfigError::invalid(
            location,
            message,
            Some("save the file as UTF-8 (your editor's \"Save with encoding\")".into()),
        )
    };
    for (bom, encoding) in FOREIGN_BOMS {
        if bytes.starts_with(bom) {
            return Err(not_utf8(
                Location::at(path, "", 0),
                format!(
                    "the file is encoded as {encoding} (it starts with a {encoding} byte order mark), not UTF-8"
                ),
            ));
        }
    }
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = match String::from_utf8(body.to_vec()) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&body[..valid]);
            return Err(not_utf8(
                Location::at(path, &prefix, valid),
                format!("the file is not valid UTF-8 (byte 0x{:02x})", body[valid]),
            ));
        }
    };
    if let Some(offset) = text.find('\0') {
        return Err(not_utf8(
            Location::at(path, &text, offset),
            "the file contains a NUL byte; is it UTF-16?".to_string(),
        ));
    }
    Ok(text)
}

/// Append one reference token to a JSON pointer (RFC 6901 escaping).
pub fn push_pointer(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn parse_jsonc(
    path: &Path,
    text: &str,
    spans: &mut HashMap<String, Span>,
) -> Result<Value, ConfigError> {
    // Wrangler's JSONC: comments and trailing commas, otherwise strict JSON.
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: true,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &options).map_err(|e| {
        ConfigError::invalid(
            Location::at(path, text, e.range().start),
            format!("invalid JSONC: {}", e.kind()),
            Some(
                "fix the syntax at that position (comments and trailing commas are allowed)".into(),
            ),
        )
    })?;
    let Some(root) = parsed.value else {
        return Err(ConfigError::invalid(
            Location::at(path, text, 0),
            "the config file is empty",
            Some("write a JSON object with at least `main` and `compatibility_date`".into()),
        ));
    };
    jsonc_to_value(path, text, &root, String::new(), None, spans)
}

fn jsonc_to_value(
    path: &Path,
    text: &str,
    node: &ast::Value<'_>,
    pointer: String,
    key: Option<usize>,
    spans: &mut HashMap<String, Span>,
) -> Result<Value, ConfigError> {
    spans.insert(
        pointer.clone(),
        Span {
            key,
            value: node.start(),
        },
    );
    Ok(match node {
        ast::Value::StringLit(s) => Value::String(s.value.to_string()),
        ast::Value::BooleanLit(b) => Value::Bool(b.value),
        ast::Value::NullKeyword(_) => Value::Null,
        ast::Value::NumberLit(n) => {
            let number: Number = n.value.parse().map_err(|_| {
                ConfigError::invalid(
                    Location::at(path, text, n.range.start),
                    format!("invalid number `{}`", n.value),
                    None,
                )
            })?;
            Value::Number(number)
        }
        ast::Value::Array(a) => {
            let mut items = Vec::with_capacity(a.elements.len());
            for (i, el) in a.elements.iter().enumerate() {
                let p = push_pointer(&pointer, &i.to_string());
                items.push(jsonc_to_value(path, text, el, p, None, spans)?);
            }
            Value::Array(items)
        }
        ast::Value::Object(o) => {
            let mut map = Map::new();
            for prop in &o.properties {
                let name = prop.name.as_str();
                let p = push_pointer(&pointer, name);
                let v = jsonc_to_value(path, text, &prop.value, p, Some(prop.name.start()), spans)?;
                map.insert(name.to_string(), v);
            }
            Value::Object(map)
        }
    })
}

fn parse_toml(
    path: &Path,
    text: &str,
    spans: &mut HashMap<String, Span>,
) -> Result<Value, ConfigError> {
    let root = toml::de::DeTable::parse(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        ConfigError::invalid(
            Location::at(path, text, offset),
            format!("invalid TOML: {}", e.message().trim()),
            Some("fix the syntax at that position".into()),
        )
    })?;
    spans.insert(
        String::new(),
        Span {
            key: None,
            value: 0,
        },
    );
    Ok(toml_table(root.get_ref(), "", spans))
}

fn toml_table(
    table: &toml::de::DeTable<'_>,
    pointer: &str,
    spans: &mut HashMap<String, Span>,
) -> Value {
    let mut map = Map::new();
    for (k, v) in table.iter() {
        let p = push_pointer(pointer, k.get_ref());
        let key_start = k.span().start;
        // Tables from `[header]` have no value span of their own: use the key.
        let value_start = v.span().start;
        spans.insert(
            p.clone(),
            Span {
                key: Some(key_start),
                value: value_start.max(key_start),
            },
        );
        map.insert(k.get_ref().to_string(), toml_value(v.get_ref(), &p, spans));
    }
    Value::Object(map)
}

fn toml_value(
    value: &toml::de::DeValue<'_>,
    pointer: &str,
    spans: &mut HashMap<String, Span>,
) -> Value {
    use toml::de::DeValue;
    match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(i.to_string())),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = push_pointer(pointer, &i.to_string());
                    spans.insert(
                        p.clone(),
                        Span {
                            key: None,
                            value: item.span().start,
                        },
                    );
                    toml_value(item.get_ref(), &p, spans)
                })
                .collect(),
        ),
        DeValue::Table(t) => toml_table(t, pointer, spans),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonc_positions_point_at_keys_and_values() {
        let text = "{\n  // c\n  \"a\": { \"b\": [1, 2,], },\n}\n".to_string();
        let doc = SourceDoc::parse(Path::new("w.jsonc"), text).expect("parses");
        assert_eq!(doc.value["a"]["b"][1], 2);
        assert_eq!(doc.key_location("/a/b").to_string(), "w.jsonc:3:10");
        assert_eq!(doc.value_location("/a/b/1").to_string(), "w.jsonc:3:19");
        // Missing pointers fall back to the nearest parent.
        assert_eq!(doc.value_location("/a/b/9").to_string(), "w.jsonc:3:15");
    }

    #[test]
    fn toml_positions_and_datetimes() {
        let text =
            "name = \"x\"\ncompatibility_date = 2025-01-02\n[[kv_namespaces]]\nbinding = 1\n"
                .to_string();
        let doc = SourceDoc::parse(Path::new("w.toml"), text).expect("parses");
        assert_eq!(doc.value["compatibility_date"], "2025-01-02");
        assert_eq!(
            doc.value_location("/kv_namespaces/0/binding").to_string(),
            "w.toml:4:11"
        );
        assert_eq!(
            doc.key_location("/compatibility_date").to_string(),
            "w.toml:2:1"
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = SourceDoc::parse(Path::new("w.jsonc"), "{\n  \"a\": 1\n  \"b\": 2\n}".into())
            .expect_err("missing comma");
        assert!(
            err.to_string()
                .starts_with("w.jsonc:2:9: invalid JSONC: Expected comma"),
            "{err}"
        );
        let err = SourceDoc::parse(Path::new("w.toml"), "a = 1\nb = \n".into()).expect_err("bad");
        assert!(err.to_string().starts_with("w.toml:2:"), "{err}");
    }
}
