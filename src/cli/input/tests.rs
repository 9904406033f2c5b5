use super::*;
use std::path::Path;

use serde_json::Value;

use crate::secret::Pii;

const NAME: &str = "张三";
const ID: &str = "11010519491231002X";

fn jsonl(lines: &[&str]) -> Vec<u8> {
    lines.join("\n").into_bytes()
}

fn body_of(job: &ParsedLine) -> Value {
    serde_json::from_slice(&job.body).unwrap()
}

#[test]
fn json_lines_become_bodies_and_blank_lines_are_skipped() {
    let input = jsonl(&[
        r#"{"job_id":"a","name":"张三","id_number":"11010519491231002X"}"#,
        "",
        "   \r",
        r#"{"job_id":"b","name":"李四","id_number":"110105194912310021","batch_id":"b1"}"#,
    ]);
    let read = read_jobs(&input, Format::Jsonl, None).unwrap();
    assert!(read.bad.is_empty(), "{:?}", read.bad);
    let ids: Vec<_> = read
        .jobs
        .iter()
        .map(|j| (j.line, j.job_id.as_str(), j.batch_id.as_deref()))
        .collect();
    assert_eq!(ids, [(1, "a", None), (4, "b", Some("b1"))]);
    // Without --batch-id the line is published byte for byte.
    assert_eq!(
        read.jobs[0].body,
        input.split(|b| *b == b'\n').next().unwrap()
    );
}

#[test]
fn a_job_that_will_be_invalid_is_still_published() {
    // A wrong check character and an empty name: the worker stores these as `invalid`.
    let input = jsonl(&[r#"{"job_id":"a","name":"","id_number":"110105194912310021"}"#]);
    let read = read_jobs(&input, Format::Jsonl, None).unwrap();
    assert_eq!(read.jobs.len(), 1);
    assert!(read.bad.is_empty());
}

#[test]
fn bad_lines_are_reported_by_number_and_reason() {
    let input = jsonl(&[
        r#"{"job_id":"a","name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"b","name":"张三","#,
        r#"{"name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"d","name":7,"id_number":"11010519491231002X"}"#,
        r#"["not","an","object"]"#,
        &format!(
            r#"{{"job_id":"f","name":"{}","id_number":"x"}}"#,
            "长".repeat(6000)
        ),
    ]);
    let read = read_jobs(&input, Format::Jsonl, None).unwrap();
    assert_eq!(read.jobs.len(), 1);
    let reported: Vec<String> = read.bad.iter().map(ToString::to_string).collect();
    assert_eq!(
        reported,
        [
            "line 2: body is not JSON (syntax error or nested too deep)",
            "line 3: no job_id in the body and no message_id property",
            "line 4: field name has the wrong JSON type",
            "line 5: body is not a JSON object",
            "line 6: body is larger than 16 KiB",
        ]
    );
}

#[test]
fn batch_id_is_added_only_where_a_line_has_none() {
    let input = jsonl(&[
        r#"{"job_id":"a","name":"张三","id_number":"11010519491231002X","metadata":{"n":1.10}}"#,
        r#"{"job_id":"b","name":"张三","id_number":"11010519491231002X","batch_id":"own"}"#,
        r#"  {"job_id":"c","name":"张三","id_number":"11010519491231002X","batch_id":null}"#,
    ]);
    let read = read_jobs(&input, Format::Jsonl, Some("given")).unwrap();
    assert!(read.bad.is_empty(), "{:?}", read.bad);
    let batches: Vec<_> = read.jobs.iter().map(|j| j.batch_id.as_deref()).collect();
    assert_eq!(batches, [Some("given"), Some("own"), Some("given")]);
    for job in &read.jobs {
        assert_eq!(body_of(job)["batch_id"].as_str(), job.batch_id.as_deref());
    }
    // The rest of the line is kept as written, numbers included.
    let first = String::from_utf8(read.jobs[0].body.clone()).unwrap();
    assert!(first.contains(r#""metadata":{"n":1.10}"#), "{first}");
}

#[test]
fn a_repeated_job_id_is_a_bad_line_naming_the_first() {
    let input = jsonl(&[
        r#"{"job_id":"a","name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"b","name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"a","name":"李四","id_number":"110105194912310021"}"#,
    ]);
    let read = read_jobs(&input, Format::Jsonl, None).unwrap();
    assert_eq!(read.jobs.len(), 2);
    assert_eq!(
        read.bad,
        [BadLine {
            line: 3,
            reason: "duplicate job_id of line 1".into()
        }]
    );
}

#[test]
fn csv_rows_become_the_same_bodies_as_the_demos() {
    let input = "\u{FEFF}job_id, name ,id_number,batch_id\r\n\
                 a,张三,11010519491231002X,\r\n\
                 \r\n\
                 b,\"李,四\",110105194912310021,own\r\n";
    let read = read_jobs(input.as_bytes(), Format::Csv, Some("given")).unwrap();
    assert!(read.bad.is_empty(), "{:?}", read.bad);
    let a = Job::new(
        "a",
        Pii::new(NAME),
        Pii::new(ID),
        Some("given".into()),
        None,
    );
    assert_eq!(read.jobs[0], ParsedLine::from_job(2, &a));
    assert_eq!(read.jobs[1].line, 4);
    assert_eq!(read.jobs[1].batch_id.as_deref(), Some("own"));
    assert_eq!(body_of(&read.jobs[1])["name"], "李,四");
}

#[test]
fn csv_columns_may_come_in_any_order_and_batch_id_is_optional() {
    let input = "id_number,job_id,name\n11010519491231002X,a,张三\n";
    let read = read_jobs(input.as_bytes(), Format::Csv, None).unwrap();
    assert_eq!(read.jobs.len(), 1);
    assert_eq!(body_of(&read.jobs[0])["id_number"], ID);
    assert_eq!(read.jobs[0].batch_id, None);
}

#[test]
fn a_csv_priority_column_reaches_the_body_as_written() {
    let input =
        "job_id,name,id_number,priority\na,张三,1,interactive\nb,张三,1,\nc,张三,1,urgent\n";
    let read = read_jobs(input.as_bytes(), Format::Csv, None).unwrap();
    assert!(read.bad.is_empty(), "{:?}", read.bad);
    let priority = |i: usize| body_of(&read.jobs[i]).get("priority").cloned();
    assert_eq!(priority(0), Some("interactive".into()));
    assert_eq!(priority(1), None);
    assert_eq!(priority(2), Some("urgent".into()));
    let worker = Job::parse(&read.jobs[2].body, None).unwrap();
    assert_eq!(
        worker.field_problem.as_deref(),
        Some(crate::job::PRIORITY_INVALID)
    );
}

#[test]
fn a_job_id_of_128_cjk_characters_is_a_bad_line_not_a_panic() {
    let line = format!(
        r#"{{"job_id":"{}","name":"张三","id_number":"1"}}"#,
        "身".repeat(128)
    );
    let read = read_jobs(line.as_bytes(), Format::Jsonl, None).unwrap();
    assert_eq!((read.jobs.len(), read.bad.len()), (0, 1));
    let csv = format!("job_id,name,id_number\n{},张三,1\n", "身".repeat(128));
    let read = read_jobs(csv.as_bytes(), Format::Csv, None).unwrap();
    assert_eq!((read.jobs.len(), read.bad.len()), (0, 1));
}

#[test]
fn bad_csv_rows_are_reported_by_line() {
    let mut input = b"job_id,name,id_number\na,\xE5\xBC,11010519491231002X\n".to_vec();
    input.extend_from_slice("b,only-two\n,张三,1\nd,张三,1\nd,张三,2\n".as_bytes());
    input.extend_from_slice(format!("{},张三,1\n", "j".repeat(129)).as_bytes());
    let read = read_jobs(&input, Format::Csv, None).unwrap();
    let reported: Vec<String> = read.bad.iter().map(ToString::to_string).collect();
    assert_eq!(
        reported,
        [
            "line 2: the name column is not UTF-8",
            "line 3: missing the id_number column (the row has 2 fields)",
            "line 4: no job_id in the body and no message_id property",
            "line 6: duplicate job_id of line 5",
            "line 7: job_id must be 1 to 128 characters, at most 255 bytes, without control characters",
        ]
    );
    assert_eq!(read.jobs.len(), 1);
}

#[test]
fn a_csv_header_without_the_required_columns_is_refused_whole() {
    let err = read_jobs(b"id,who,number\na,b,c\n", Format::Csv, None).unwrap_err();
    assert!(
        err.to_string().contains("job_id, name and id_number"),
        "{err}"
    );
}

#[test]
fn no_report_or_debug_output_quotes_a_name_or_an_id_number() {
    let input = jsonl(&[
        r#"{"job_id":"a","name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"a","name":"张三","id_number":"11010519491231002X"}"#,
        r#"{"job_id":"c","name":"张三","id_number":"11010519491231002X""#,
        r#"{"job_id":"d","name":"张三","id_number":11010519491231002}"#,
        "张三,11010519491231002X",
    ]);
    let read = read_jobs(&input, Format::Jsonl, None).unwrap();
    assert_eq!(read.bad.len(), 4);
    let text = format!(
        "{read:?} {}",
        read.bad
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for secret in ["张三", "11010519491231002", "张", "三"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn the_format_comes_from_the_extension_else_the_first_character() {
    assert_eq!(
        Format::from_path(Path::new("x/jobs.CSV")),
        Some(Format::Csv)
    );
    assert_eq!(
        Format::from_path(Path::new("jobs.ndjson")),
        Some(Format::Jsonl)
    );
    assert_eq!(
        Format::from_path(Path::new("jobs.jsonl")),
        Some(Format::Jsonl)
    );
    assert_eq!(
        Format::from_path(Path::new("jobs.json")),
        Some(Format::Jsonl)
    );
    assert_eq!(Format::from_path(Path::new("jobs.txt")), None);
    assert_eq!(Format::from_path(Path::new("-")), None);
    assert_eq!(
        Format::sniff(b"\xEF\xBB\xBF \n {\"job_id\":1}"),
        Format::Jsonl
    );
    assert_eq!(Format::sniff(b"job_id,name,id_number\n"), Format::Csv);
    assert_eq!(Format::sniff(b""), Format::Csv);
}

#[test]
fn a_csv_row_longer_than_a_mebibyte_ends_the_input_naming_its_line_not_its_content() {
    let mut input = b"job_id,name,id_number\na,\xE5\xBC\xA0,1\nb,\"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 2 << 20));
    input.extend_from_slice(b"\",1\n");
    let err = read_jobs(&input, Format::Csv, None).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("a CSV row longer than 1 MiB after line 2"),
        "{text}"
    );
    assert!(!text.contains("xxx"), "{text}");
}

#[test]
fn a_json_line_far_over_16_kib_is_reported_too_large_and_the_next_line_still_read() {
    let mut input = format!(r#"{{"job_id":"big","name":"{}"}}"#, "x".repeat(1 << 20)).into_bytes();
    input.extend_from_slice(b"\n{\"job_id\":\"b\",\"name\":\"n\",\"id_number\":\"1\"}\n");
    let read = read_jobs(&input, Format::Jsonl, None).unwrap();
    assert_eq!(
        read.bad,
        [BadLine {
            line: 1,
            reason: "body is larger than 16 KiB".into()
        }]
    );
    assert_eq!(read.jobs.len(), 1);
    assert_eq!(read.jobs[0].line, 2);
}
