//! `GET /jobs/{job_id}`: the settled row, or where the job is.

use maud::{html, Markup};

use super::batches::batch_href;
use super::{layout, short_id, when, Viewer};
use crate::console::reads::jobs::JobWhere;

pub fn render(job_id: &str, found: &JobWhere, viewer: &Viewer) -> Markup {
    let content = html! {
        section {
            @match found {
                JobWhere::Settled(r) => {
                    table #job {
                        tr { th { "job_id" } td { (r.job_id) } }
                        tr { th { "batch" } td { @if let Some(b) = &r.batch_id { a href=(batch_href(b)) { (b) } } @else { "–" } } }
                        tr { th { "status" } td #status { (r.status) } }
                        tr { th { "BizCode" } td { (r.biz_code.as_deref().unwrap_or("–")) } }
                        tr { th { "upstream code" } td { (r.upstream_code.as_deref().unwrap_or("–")) } }
                        tr { th { "attempts" } td { (r.attempts) } }
                        tr { th { "name" } td { (r.name_masked.as_deref().unwrap_or("")) } }
                        tr { th { "ID number" } td { (r.id_number_masked.as_deref().unwrap_or("")) } }
                        tr { th { "received" } td { (when(r.received_at)) } }
                        tr { th { "completed" } td { (when(r.completed_at)) } }
                    }
                }
                JobWhere::Claimed(c) => {
                    p #status { "In progress: claimed, not settled yet." }
                    table #job {
                        tr { th { "claimed by" } td #replica {
                            @match c.replica_id {
                                Some(replica) => { "replica " code { (short_id(replica)) } }
                                None => span.muted { "a worker older than this console (no replica recorded)" },
                            }
                            " (" (c.state) ")"
                        } }
                        tr { th { "attempts so far" } td { (c.attempts) } }
                        tr { th { "last code" } td { (c.last_code.as_deref().unwrap_or("–")) } }
                        tr { th { "claimed" } td { (when(c.claimed_at)) } }
                        tr { th { "lease" } td {
                            @if c.lease_left_ms > 0 { (c.lease_left_ms / 1000) " s left (until " (when(c.lease_until)) ")" }
                            @else { "expired " (when(c.lease_until)) ": another replica may take it over" }
                        } }
                    }
                }
                JobWhere::Unknown => {
                    p #status { "No row and no claim: the job is still queued, or was never enqueued under this id." }
                }
            }
        }
    };
    let refresh = (!matches!(found, JobWhere::Settled(_))).then_some(2);
    layout(&format!("Job {job_id}"), refresh, viewer, content)
}
