//! The published schemas (`schemas/*.schema.json`) and the worker's own types agree.
//!
//! scripts/examples.sh validates real messages against the schemas with real validators; these
//! tests catch a drift without a broker, Python or Node: each schema's examples must survive a
//! round trip through the type the worker reads or writes, unchanged, and the fields the
//! worker writes must be the fields the schema describes. No JSON Schema validator here: only
//! the schema's own examples, `required` and `properties` are read.

use std::collections::BTreeSet;

use id2meta::job::{Job, Priority};
use id2meta::queue::Completion;
use serde_json::Value;

fn schema(name: &str) -> Value {
    let path = format!("{}/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn names(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Object(fields) => fields.keys().cloned().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn examples(schema: &Value) -> Vec<Value> {
    let examples = schema["examples"].as_array().cloned().unwrap_or_default();
    assert!(!examples.is_empty(), "the schema has examples");
    examples
}

#[test]
fn every_completion_example_round_trips_through_the_workers_completion_unchanged() {
    for example in examples(&schema("completion.schema.json")) {
        let completion: Completion =
            serde_json::from_value(example.clone()).unwrap_or_else(|e| panic!("{example}: {e}"));
        let written = serde_json::to_value(&completion).expect("a completion serialises");
        // A field the schema requires that the worker does not carry is dropped by the round
        // trip (serde ignores unknown fields), and so is caught here.
        assert_eq!(
            written, example,
            "the worker writes the example back unchanged"
        );
    }
}

#[test]
fn a_completion_with_nothing_to_say_writes_every_required_field_as_null_and_only_described_fields()
{
    let completion = schema("completion.schema.json");
    let required = names(&completion["required"]);
    let described = names(&completion["properties"]);
    // The emptiest completion: every optional value absent.
    let mut bare: Value = examples(&completion)[0].clone();
    for field in described.iter() {
        if !required.contains(field) {
            bare.as_object_mut().expect("an object").remove(field);
        }
    }
    for field in [
        "batch_id",
        "biz_code",
        "upstream_code",
        "request_id",
        "metadata",
    ] {
        bare[field] = Value::Null;
    }
    let parsed: Completion = serde_json::from_value(bare).expect("a completion");
    let written = names(&serde_json::to_value(&parsed).expect("serialises"));
    assert!(
        required.is_subset(&written),
        "required but not written: {:?}",
        required.difference(&written).collect::<Vec<_>>()
    );
    assert!(
        written.is_subset(&described),
        "written but not described: {:?}",
        written.difference(&described).collect::<Vec<_>>()
    );
}

#[test]
fn every_job_example_is_a_valid_job_that_enqueue_would_publish_unchanged() {
    let job = schema("job.schema.json");
    let described = names(&job["properties"]);
    for example in examples(&job) {
        let body = serde_json::to_vec(&example).expect("serialises");
        let parsed = Job::parse(&body, None).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(parsed.field_problem, None, "{example} is not invalid");
        // `enqueue` leaves the default priority out; the schema's `default` says the same.
        let mut expected = example.clone();
        if expected["priority"] == Value::String(Priority::Bulk.as_str().into()) {
            expected
                .as_object_mut()
                .expect("an object")
                .remove("priority");
        }
        let published: Value = serde_json::from_slice(&parsed.to_body()).expect("JSON");
        assert_eq!(published, expected);
        assert!(names(&published).is_subset(&described));
    }
    assert_eq!(job["properties"]["priority"]["default"], "bulk");
}
