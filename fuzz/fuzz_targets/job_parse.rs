//! Arbitrary bytes through everything a message meets before a billed call:
//! the job parser, identity validation, masks. None of it may panic, and a
//! parsed job must survive its own round trip.
#![no_main]

use id2meta::identity::{mask_id_number, mask_name, Identity};
use id2meta::job::{Job, MAX_BODY_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let message_id = std::str::from_utf8(body.get(..8).unwrap_or_default()).ok();
    let Ok(job) = Job::parse(body, message_id) else {
        return;
    };
    let _ = Identity::parse(job.name.expose(), job.id_number.expose());
    assert!(mask_id_number(job.id_number.expose()).chars().count() <= 18);
    let _ = mask_name(job.name.expose());
    // The canonical body can outgrow the limit (a job_id from message_id,
    // numbers re-spelled); below it, it must read back as the same job.
    let canonical = job.to_body();
    if canonical.len() <= MAX_BODY_BYTES {
        let again = Job::parse(&canonical, None).map(|j| j.job_id);
        assert_eq!(again.ok().as_deref(), Some(job.job_id.as_str()));
    }
});
