use proptest::prelude::*;
use serde_json::json;

use super::*;

const VALID: &str = r#"{"job_id":"onb-000123","name":"张三","id_number":"11010519491231002X",
 "batch_id":"onboarding-2026-11-28","metadata":{"applicant":"a-77"}}"#;

/// `Ok(field_problem)` or `Err(reason)`.
type Fate<'a> = Result<Option<&'a str>, &'a str>;

/// What [`Job::parse`] makes of a body, as a [`Fate`].
fn fate(body: &[u8]) -> Result<Option<String>, &'static str> {
    Job::parse(body, None)
        .map(|job| job.field_problem)
        .map_err(|e| e.reason())
}

#[test]
fn the_contract_example_parses_into_every_field() {
    let job = Job::parse(VALID.as_bytes(), Some("ignored")).unwrap();
    assert_eq!(job.job_id, "onb-000123");
    assert_eq!(job.name.expose(), "张三");
    assert_eq!(job.id_number.expose(), "11010519491231002X");
    assert_eq!(job.batch_id.as_deref(), Some("onboarding-2026-11-28"));
    assert_eq!(job.metadata, Some(json!({"applicant": "a-77"})));
    assert_eq!(job.field_problem, None);
}

#[test]
fn hostile_bodies_meet_their_expected_fate() {
    let long = |n: usize| "j".repeat(n);
    let table: Vec<(Vec<u8>, Fate)> = vec![
        (vec![b' '; MAX_BODY_BYTES + 1], Err("too_large")),
        ("[".repeat(100_000).into_bytes(), Err("too_large")),
        ("[".repeat(MAX_BODY_BYTES).into_bytes(), Err("not_json")),
        (
            b"{\"job_id\":\"a\",\"name\":\"\xff\"}".to_vec(),
            Err("not_utf8"),
        ),
        (b"\xc0\xaf".to_vec(), Err("not_utf8")),
        (b"".to_vec(), Err("not_json")),
        (br#"{"job_id":"a","name":"#.to_vec(), Err("not_json")),
        (
            br#"{"job_id":"a","name":"\ud800"}"#.to_vec(),
            Err("not_json"),
        ),
        (
            "\u{feff}{\"job_id\":\"a\"}".as_bytes().to_vec(),
            Err("not_json"),
        ),
        (br#"["job_id","a"]"#.to_vec(), Err("not_an_object")),
        (b"null".to_vec(), Err("not_an_object")),
        (
            br#"{"job_id":"a","job_id":"b"}"#.to_vec(),
            Err("duplicate_key"),
        ),
        (
            br#"{"job_id":"a","name":"x","na\u006de":"y"}"#.to_vec(),
            Err("duplicate_key"),
        ),
        (br#"{"name":"x"}"#.to_vec(), Err("missing_job_id")),
        (br#"{"job_id":null}"#.to_vec(), Err("missing_job_id")),
        (br#"{"job_id":""}"#.to_vec(), Err("missing_job_id")),
        (br#"{"job_id":"a\nb"}"#.to_vec(), Err("invalid_job_id")),
        (br#"{"job_id":"a\u202eb"}"#.to_vec(), Err("invalid_job_id")),
        (
            json!({"job_id": long(129)}).to_string().into_bytes(),
            Err("invalid_job_id"),
        ),
        (
            json!({"job_id": long(128)}).to_string().into_bytes(),
            Ok(None),
        ),
        (br#"{"job_id":7}"#.to_vec(), Err("wrong_type")),
        (
            br#"{"job_id":"a","name":12345}"#.to_vec(),
            Err("wrong_type"),
        ),
        (
            br#"{"job_id":"a","id_number":110105194912310020}"#.to_vec(),
            Err("wrong_type"),
        ),
        (
            br#"{"job_id":"a","batch_id":true}"#.to_vec(),
            Err("wrong_type"),
        ),
        (
            br#"{"job_id":"a","metadata":[1]}"#.to_vec(),
            Err("wrong_type"),
        ),
        (
            br#"{"job_id":"a","metadata":"x"}"#.to_vec(),
            Err("wrong_type"),
        ),
        (br#"{"job_id":"a"}"#.to_vec(), Ok(None)),
        (
            br#"{"job_id":"a","name":null,"id_number":null,"batch_id":null,"metadata":null}"#
                .to_vec(),
            Ok(None),
        ),
        (br#"{"job_id":"a","batch_id":""}"#.to_vec(), Ok(None)),
        (
            br#"{"job_id":"a","extra":{"deep":[1,2,3]}}"#.to_vec(),
            Ok(None),
        ),
        (
            json!({"job_id": "a", "batch_id": long(129)})
                .to_string()
                .into_bytes(),
            Ok(Some(BATCH_ID_INVALID)),
        ),
        (
            br#"{"job_id":"a","batch_id":"b\u0000"}"#.to_vec(),
            Ok(Some(BATCH_ID_INVALID)),
        ),
        (
            json!({"job_id": "a", "metadata": {"x": "m".repeat(MAX_METADATA_BYTES)}})
                .to_string()
                .into_bytes(),
            Ok(Some(METADATA_TOO_LARGE)),
        ),
    ];
    for (body, expected) in table {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(
            fate(&body),
            expected.map(|p| p.map(str::to_owned)),
            "{shown}"
        );
    }
}

#[test]
fn the_message_id_property_stands_in_for_a_missing_job_id() {
    let from_property = Job::parse(br#"{"name":"x"}"#, Some("m-1")).unwrap();
    assert_eq!(from_property.job_id, "m-1");
    let body_wins = Job::parse(br#"{"job_id":"b-1"}"#, Some("m-1")).unwrap();
    assert_eq!(body_wins.job_id, "b-1");
    let null_in_body = Job::parse(br#"{"job_id":null}"#, Some("m-1")).unwrap();
    assert_eq!(null_in_body.job_id, "m-1");
    assert_eq!(
        Job::parse(b"{}", Some("")).unwrap_err(),
        NotAJob::MissingJobId
    );
    let too_long = "m".repeat(MAX_JOB_ID_CHARS + 1);
    assert_eq!(
        Job::parse(b"{}", Some(&too_long)).unwrap_err(),
        NotAJob::InvalidJobId
    );
}

#[test]
fn a_bad_batch_id_or_metadata_is_dropped_not_stored() {
    let body = json!({"job_id": "a", "batch_id": "b".repeat(129),
        "metadata": {"x": "m".repeat(MAX_METADATA_BYTES)}});
    let job = Job::parse(body.to_string().as_bytes(), None).unwrap();
    assert_eq!((job.batch_id, job.metadata), (None, None));
    assert_eq!(job.field_problem.as_deref(), Some(BATCH_ID_INVALID));
}

#[test]
fn a_nul_anywhere_in_metadata_makes_the_job_invalid_and_the_metadata_is_not_kept() {
    for metadata in [
        json!({"note": "a\u{0}b"}),
        json!({"a\u{0}": 1}),
        json!({"deep": [{"x": ["ok", "\u{0}"]}]}),
        json!({"deep": {"k\u{0}ey": null}}),
    ] {
        let body = json!({"job_id": "nul", "name": "张三", "id_number": "11010519491231002X",
            "metadata": metadata});
        let job = Job::parse(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(job.field_problem.as_deref(), Some(METADATA_NUL), "{body}");
        assert_eq!(job.metadata, None);
    }
    let fine = json!({"job_id": "ok", "metadata": {"note": "a\\u0000b", "n": 0}});
    let job = Job::parse(fine.to_string().as_bytes(), None).unwrap();
    assert_eq!(job.field_problem, None);
}

#[test]
fn a_job_id_over_255_bytes_is_not_a_job_even_within_128_characters() {
    let parse = |job_id: &str| Job::parse(json!({"job_id": job_id}).to_string().as_bytes(), None);
    assert_eq!(parse(&"身".repeat(128)).unwrap_err(), NotAJob::InvalidJobId);
    assert_eq!(parse(&"身".repeat(86)).unwrap_err(), NotAJob::InvalidJobId);
    assert_eq!(parse(&"身".repeat(85)).unwrap().job_id.len(), 255);
    assert_eq!(
        parse(&format!("{}é", "a".repeat(126)))
            .unwrap()
            .job_id
            .len(),
        128
    );
    assert!(parse(&"a".repeat(128)).is_ok());
}

#[test]
fn an_empty_job_id_in_the_body_falls_back_to_the_message_id() {
    let body = br#"{"job_id":"","name":"x","id_number":"1"}"#;
    assert_eq!(
        Job::parse(body, Some("from-property")).unwrap().job_id,
        "from-property"
    );
    assert_eq!(Job::parse(body, None).unwrap_err(), NotAJob::MissingJobId);
}

#[test]
fn an_unknown_priority_makes_the_job_invalid_without_its_metadata() {
    let body = |priority: Value| {
        json!({"job_id": "p", "metadata": {"k": 1}, "priority": priority}).to_string()
    };
    let job = Job::parse(body(json!("interactive")).as_bytes(), None).unwrap();
    assert_eq!(
        (job.priority, job.field_problem),
        (Priority::Interactive, None)
    );
    for bad in [json!("urgent"), json!(1), json!(["bulk"])] {
        let job = Job::parse(body(bad).as_bytes(), None).unwrap();
        assert_eq!(job.field_problem.as_deref(), Some(PRIORITY_INVALID));
        assert_eq!(
            job.metadata, None,
            "metadata of an invalid job is not echoed"
        );
    }
}

#[test]
fn a_priority_round_trips_through_the_body() {
    let job = Job::new("p", Pii::new("张三"), Pii::new("1"), None, None)
        .with_priority(Priority::Interactive);
    let back = Job::parse(&job.to_body(), None).unwrap();
    assert_eq!(back.priority, Priority::Interactive);
}

#[test]
fn errors_name_the_field_but_never_a_value() {
    let error = Job::parse(br#"{"job_id":"secret-77","name":12345}"#, None).unwrap_err();
    assert_eq!(error, NotAJob::WrongType("name"));
    assert_eq!(error.to_string(), "field name has the wrong JSON type");
}

#[test]
fn to_body_round_trips_through_parse() {
    let job = Job::new(
        "onb-1",
        Pii::new("张三"),
        Pii::new("11010519491231002X"),
        Some("batch-1".into()),
        Some(json!({"k": [1, "v"]})),
    );
    let body = job.to_body();
    let text = String::from_utf8(body.clone()).unwrap();
    assert_eq!(
        text,
        r#"{"batch_id":"batch-1","id_number":"11010519491231002X","job_id":"onb-1","metadata":{"k":[1,"v"]},"name":"张三"}"#
    );
    let back = Job::parse(&body, None).unwrap();
    assert_eq!(back.to_body(), body);
    let bare = Job::new("onb-2", Pii::default(), Pii::default(), None, None);
    assert_eq!(
        bare.to_body(),
        br#"{"id_number":"","job_id":"onb-2","name":""}"#
    );
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Objects shaped like jobs, with any value in any field.
fn job_like() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        prop::sample::select(vec![
            "job_id",
            "name",
            "id_number",
            "batch_id",
            "metadata",
            "priority"
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ];
    prop::collection::btree_map(field, any_json(), 0..7)
        .prop_map(|map| Value::Object(map.into_iter().collect()))
}

/// What must hold of any parsed job, whatever the input.
fn check_invariants(body: &[u8], message_id: Option<&str>) -> Result<(), TestCaseError> {
    if let Ok(job) = Job::parse(body, message_id) {
        prop_assert!((1..=MAX_JOB_ID_CHARS).contains(&job.job_id.chars().count()));
        prop_assert!(job.job_id.len() <= MAX_JOB_ID_BYTES);
        prop_assert!(!job.job_id.chars().any(is_hidden_or_control));
        if let Some(metadata) = &job.metadata {
            prop_assert!(metadata.is_object() && metadata.to_string().len() <= MAX_METADATA_BYTES);
            prop_assert!(!metadata.to_string().contains("\\u0000"));
        }
        if let Some(batch_id) = &job.batch_id {
            prop_assert!(!batch_id.contains('\0'));
        }
        let again =
            Job::parse(&job.to_body(), None).map_err(|e| TestCaseError::fail(e.reason()))?;
        prop_assert_eq!(again.job_id, job.job_id);
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512),
                                   message_id in proptest::option::of(".{0,140}")) {
        check_invariants(&body, message_id.as_deref())?;
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        check_invariants(value.to_string().as_bytes(), Some("m-1"))?;
    }

    #[test]
    fn job_shaped_json_never_panics(value in job_like(), message_id in proptest::option::of(".{0,140}")) {
        check_invariants(value.to_string().as_bytes(), message_id.as_deref())?;
    }

    #[test]
    fn a_truncated_job_is_never_a_job(cut in 0usize..VALID.len()) {
        let body = &VALID.as_bytes()[..cut];
        prop_assert!(Job::parse(body, Some("m-1")).is_err());
    }
}
