//! The top-level JSON object of a message, read so that every parser agrees
//! on it.
//!
//! serde_json keeps the *last* of two equal keys; other parsers keep the
//! first. A body with `"job_id"` twice could then be one job to a validator
//! and another to the worker, so a duplicate key (escapes decoded, so
//! `"job\u005fid"` counts) makes the message not a job. Only the top level is
//! checked: nested values (metadata) are echoed, never interpreted.
//!
//! serde_json's recursion limit (128) applies to everything below, so deep
//! nesting is a syntax error, never a stack overflow. The body is at most
//! 16 KiB, so reading every value (even ones then dropped) costs little.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What the body's JSON value turned out to be.
pub(super) enum TopLevel {
    Object(Map<String, Value>),
    NotAnObject,
    DuplicateKey,
}

/// Parses a whole body; `Err` is a JSON syntax error (truncation, trailing
/// characters, nesting too deep, ...), never a shape problem.
pub(super) fn parse(text: &str) -> Result<TopLevel, serde_json::Error> {
    serde_json::from_str(text)
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::NotAnObject)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
        // Read to the end so a syntax error further on still counts as one.
        // Into `Value`, not `IgnoredAny`: serde_json skips ignored values
        // without its recursion limit, and deep nesting must read as not JSON.
        while seq.next_element::<Value>()?.is_some() {}
        Ok(TopLevel::NotAnObject)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut fields = Map::new();
        let mut duplicate = false;
        while let Some(key) = map.next_key::<String>()? {
            if duplicate || fields.contains_key(&key) {
                duplicate = true;
                map.next_value::<Value>()?;
            } else {
                let value = map.next_value::<Value>()?;
                fields.insert(key, value);
            }
        }
        Ok(if duplicate {
            TopLevel::DuplicateKey
        } else {
            TopLevel::Object(fields)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> &'static str {
        match parse(text) {
            Ok(TopLevel::Object(_)) => "object",
            Ok(TopLevel::NotAnObject) => "not_an_object",
            Ok(TopLevel::DuplicateKey) => "duplicate_key",
            Err(_) => "not_json",
        }
    }

    #[test]
    fn each_kind_of_body_gets_its_shape() {
        let table = [
            (r#"{"a":1,"b":{"a":2}}"#, "object"),
            (r#"{"a":{"x":1,"x":2}}"#, "object"),
            (r#"{"a":1,"a":1}"#, "duplicate_key"),
            (r#"{"job_id":"x","job\u005fid":"y"}"#, "duplicate_key"),
            (r#"{"a":1,"a":2,"b":"#, "not_json"),
            (
                r#"{"a":1,"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
                "duplicate_key",
            ),
            (r#"[1,{"a":1}]"#, "not_an_object"),
            (r#"[1,"#, "not_json"),
            ("null", "not_an_object"),
            ("true", "not_an_object"),
            ("-1", "not_an_object"),
            ("18446744073709551616", "not_an_object"),
            ("1.5", "not_an_object"),
            (r#""job""#, "not_an_object"),
            ("", "not_json"),
            ("{} {}", "not_json"),
            ("{\"a\":NaN}", "not_json"),
        ];
        for (text, expected) in table {
            assert_eq!(shape(text), expected, "{text}");
        }
    }

    #[test]
    fn a_hundred_thousand_open_brackets_are_a_syntax_error_not_a_stack_overflow() {
        assert_eq!(shape(&"[".repeat(100_000)), "not_json");
        assert_eq!(
            shape(&format!("{{\"a\":{}", "{\"a\":".repeat(100_000))),
            "not_json"
        );
        let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(shape(&closed), "not_json");
    }
}
