//! What the dead-letter tests share: reading a letter's bytes, headers and
//! sealed summaries, and running `id2meta dead-letters` as an operator would.

use std::time::Duration;

use id2meta::mock::population;
use id2meta::queue::dead_letters::{headers, DeadLetterQueue, Selection, Summary};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use crate::helpers;
use crate::helpers::{eventually, TestEnv};

/// How long a test waits for a condition before it fails.
pub const WITHIN: Duration = Duration::from_secs(60);

/// Every byte a message carries outside its body: header names and values
/// (nested tables and arrays too), and the text properties.
pub fn property_bytes(properties: &BasicProperties) -> Vec<u8> {
    fn value(out: &mut Vec<u8>, v: &AMQPValue) {
        match v {
            AMQPValue::LongString(s) => out.extend_from_slice(s.as_bytes()),
            AMQPValue::ShortString(s) => out.extend_from_slice(s.as_str().as_bytes()),
            AMQPValue::ByteArray(b) => out.extend_from_slice(b.as_slice()),
            AMQPValue::FieldTable(t) => table(out, t),
            AMQPValue::FieldArray(a) => a.as_slice().iter().for_each(|v| value(out, v)),
            other => out.extend_from_slice(format!("{other:?}").as_bytes()),
        }
    }
    fn table(out: &mut Vec<u8>, t: &FieldTable) {
        for (name, v) in t {
            out.extend_from_slice(name.as_str().as_bytes());
            out.push(b'\n');
            value(out, v);
            out.push(b'\n');
        }
    }
    let mut out = Vec::new();
    if let Some(t) = properties.headers() {
        table(&mut out, t);
    }
    for text in [
        properties.message_id(),
        properties.correlation_id(),
        properties.content_type(),
        properties.expiration(),
    ]
    .into_iter()
    .flatten()
    {
        out.extend_from_slice(text.as_str().as_bytes());
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The plaintext forms of person `i`: name, number, and the number's 17 digits.
pub fn plaintext_of(i: u64) -> Vec<String> {
    let (name, id_number, _) = population::person(i);
    vec![name.clone(), id_number.clone(), id_number[..17].to_string()]
}

pub fn header(properties: &BasicProperties, name: &str) -> Option<String> {
    headers::text(properties.headers().as_ref()?, name)
}

/// Waits until the dead-letter queue lists `count` sealed letters.
pub async fn sealed_letters(queue: &DeadLetterQueue, count: usize) -> Vec<Summary> {
    eventually(&format!("{count} sealed dead letters"), WITHIN, || async {
        let letters = queue.list(1000).await.expect("list");
        (letters.len() == count && letters.iter().all(|l| l.sealed)).then_some(letters)
    })
    .await
}

/// Replays the one letter `letter` and checks the replay moved it.
pub async fn replay_one(queue: &DeadLetterQueue, letter: &Summary) {
    let id = letter.id.clone().expect("a letter with an id");
    let report = queue
        .replay(&Selection::Ids(vec![id]))
        .await
        .expect("replay");
    assert_eq!(report.done, 1, "{report:?}");
}

/// Runs `id2meta dead-letters ARGS` as an operator would, against this test's queues.
pub fn dead_letters_command(env: &TestEnv, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .arg("dead-letters")
        .args(args)
        .env("AMQP_URL", &env.config.amqp_url)
        .env("ID2META_JOBS_QUEUE", &env.config.jobs_queue)
        .env("ID2META_RESULTS_EXCHANGE", &env.config.results_exchange)
        .env("ID2META_PII_KEY", helpers::PII_KEY)
        .env("ID2META_LOG_FORMAT", "json")
        .output()
        .expect("the binary runs")
}
