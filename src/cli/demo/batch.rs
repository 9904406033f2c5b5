//! The demo's sample batch: the population's people, some invalid input, and
//! the identities scripted on the mock to be rejected or to fail every attempt,
//! so one run shows every status.

use serde_json::json;

use crate::mock::{population, MockHandle};

/// Statuses forced by script, besides the population's verdicts and the invalid ones.
pub(super) const SCRIPTED_REJECTED: u64 = 4;
pub(super) const SCRIPTED_FAILED: u64 = 3;

/// The batch: the population's people (match, mismatch, not_found), some invalid
/// input, and a few identities scripted to be rejected or to fail every attempt.
pub(super) fn sample_batch(
    batch_id: &str,
    jobs: u64,
    max_attempts: u32,
    mock: &MockHandle,
) -> Vec<(String, Vec<u8>)> {
    let invalid = [
        ("张三", "110105194912310021"),         // wrong check character
        ("李四", "11010519491331002X"),         // no 13th month
        ("", "11010519491231002X"),             // empty name
        ("王五", "1101051949123100"),           // too short
        ("赵\u{202E}六", "11010519491231002X"), // a bidi override in the name
    ];
    (0..jobs)
        .map(|i| {
            let job_id = format!("{batch_id}-{i:05}");
            let (name, id_number) = if i % 50 == 49 {
                let (name, id) = invalid[(i / 50) as usize % invalid.len()];
                (name.to_string(), id.to_string())
            } else {
                let (name, id, _) = population::person(i);
                if i < SCRIPTED_REJECTED {
                    mock.script(&id, ["InvalidParameter"]);
                } else if i < SCRIPTED_REJECTED + SCRIPTED_FAILED {
                    mock.script(&id, vec!["InternalError"; max_attempts as usize]);
                }
                (name, id)
            };
            let body = json!({"job_id": job_id, "name": name, "id_number": id_number, "batch_id": batch_id,
                              "metadata": {"source": "demo", "row": i}});
            (job_id, body.to_string().into_bytes())
        })
        .collect()
}
