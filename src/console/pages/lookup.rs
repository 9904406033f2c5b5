//! `GET /lookup` and the answer to `POST /lookup`: "was this person verified,
//! when, with what result?". The form never comes back filled in: the answer
//! shows the identity's masks, never what was typed, and the page is not live
//! (a live page would fetch `/lookup` again by GET).

use maud::{html, Markup};

use super::batches::batch_href;
use super::{csrf_field, layout, when, Viewer};
use crate::lifecycle::lookup::{Found, MAX_FOUND};

/// What a lookup answered: the masks of who was asked for, and the rows found.
pub struct Answer<'a> {
    pub name_masked: &'a str,
    pub id_number_masked: &'a str,
    pub found: &'a [Found],
}

/// The empty form, and under it the answer of a lookup just made.
pub fn render(answer: Option<&Answer<'_>>, viewer: &Viewer) -> Markup {
    let content = html! {
        section {
            @if !viewer.actions {
                div.notice { "A lookup needs ID2META_CONSOLE_TOKEN." }
            } @else if viewer.csrf.is_none() {
                div.notice { a href="/login?next=/lookup" { "Log in" } " to look a person up." }
            }
            form method="post" action="/lookup" autocomplete="off" #lookup {
                (csrf_field(viewer))
                label { "Name " input type="text" name="name" autocomplete="off" required; }
                " "
                label { "ID number " input type="text" name="id_number" autocomplete="off" spellcheck="false" required; }
                " " button type="submit" { "Look up" }
            }
            p.muted { "Sent by POST and answered on this page: what you type is never put in a URL, logged or stored. Each lookup is in the audit log, with the masks and the number of rows found." }
        }
        @if let Some(answer) = answer {
            section #answer {
                h2 { (answer.name_masked) " " (answer.id_number_masked) }
                @if answer.found.is_empty() {
                    p #none { "No row of this identity (a scrubbed or forgotten row is never found)." }
                } @else {
                    p #count { (answer.found.len()) " rows"
                        @if answer.found.len() as i64 == MAX_FOUND { " (the oldest " (MAX_FOUND) " only)" } }
                    div.scroll { table #found {
                        thead { tr { th { "job_id" } th { "batch" } th { "queue" } th { "status" } th { "completed" } th { "reused from" } } }
                        tbody {
                            @for r in answer.found {
                                tr {
                                    td { a href=(format!("/jobs/{}", super::batches::enc(&r.job_id))) { (r.job_id) } }
                                    td { @if let Some(b) = &r.batch_id { a href=(batch_href(b)) { (b) } } @else { "–" } }
                                    td { (r.queue.as_deref().unwrap_or("–")) }
                                    td { (r.status) }
                                    td { (when(r.completed_at)) }
                                    td { (r.reused_from_job_id.as_deref().unwrap_or("–")) }
                                }
                            }
                        }
                    } }
                }
            }
        }
    };
    layout("Look a person up", None, viewer, content)
}
