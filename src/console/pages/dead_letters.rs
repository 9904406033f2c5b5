//! `GET /dead-letters`: reason, job_id, masks and age of each dead letter, with
//! replay and purge, singly and by selection.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::{ago, csrf_field, layout, Viewer};
use crate::queue::dead_letters::Summary;

/// The list, or why it cannot be read.
pub fn render(
    letters: Result<&[Summary], &str>,
    notice: Option<&str>,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Markup {
    let content = html! {
        @if let Some(n) = notice { div.notice #notice { (n) } }
        section {
            @match letters {
                Err(why) => p.muted { (why) },
                Ok([]) => p.muted { "No dead letters." },
                Ok(letters) => {
                    form method="post" action="/dead-letters/replay" #letters {
                        (csrf_field(viewer))
                        div.scroll { table {
                            thead { tr { th { "" } th { "reason" } th { "job_id" } th { "name" } th { "ID number" } th { "age" } th { "" } } }
                            tbody {
                                @for l in letters {
                                    tr {
                                        td { @if let Some(id) = &l.id { input type="checkbox" name="id" value=(id) aria-label="select"; } }
                                        td { code { (l.reason.as_deref().unwrap_or("–")) } }
                                        td { (l.job_id.as_deref().unwrap_or("–")) }
                                        td { (l.name_masked.as_deref().unwrap_or("")) }
                                        td { (l.id_number_masked.as_deref().unwrap_or("")) }
                                        td { (l.dead_lettered_at.map_or_else(|| "–".to_string(), |t| ago(t, now))) }
                                        td {
                                            @if let Some(id) = &l.id {
                                                button type="submit" name="only" value=(id) data-job=(l.job_id.as_deref().unwrap_or("")) { "Replay" }
                                                " "
                                                button.danger type="submit" formaction="/dead-letters/purge" name="only" value=(id) { "Purge" }
                                            } @else {
                                                span.muted title="not sealed yet: the worker's sweep seals it" { "sealing…" }
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                        p {
                            button type="submit" { "Replay selected" }
                            " "
                            button.danger type="submit" formaction="/dead-letters/purge" { "Purge selected" }
                        }
                    }
                }
            }
            @if !viewer.actions { p.muted { "Replay and purge need ID2META_CONSOLE_TOKEN." } }
            @else if viewer.csrf.is_none() { p.muted { a href="/login?next=/dead-letters" { "Log in" } " to replay or purge." } }
        }
    };
    layout("Dead letters", None, viewer, content)
}
