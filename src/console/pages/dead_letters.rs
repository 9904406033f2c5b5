//! `GET /dead-letters`: reason, job_id, masks and age of each dead letter, with
//! replay and purge, singly and by selection.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::{ago, csrf_field, layout, Viewer};

/// One dead letter as the page shows it: what its headers say, masks only.
#[derive(Debug, Clone)]
pub struct LetterLine {
    pub id: String,
    pub reason: String,
    pub job_id: Option<String>,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub dead_since: Option<DateTime<Utc>>,
}

/// The list, or why it cannot be read.
pub fn render(
    letters: Result<&[LetterLine], &str>,
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
                                        td { input type="checkbox" name="id" value=(l.id) aria-label="select"; }
                                        td { code { (l.reason) } }
                                        td { (l.job_id.as_deref().unwrap_or("–")) }
                                        td { (l.name_masked.as_deref().unwrap_or("")) }
                                        td { (l.id_number_masked.as_deref().unwrap_or("")) }
                                        td { (l.dead_since.map_or_else(|| "–".to_string(), |t| ago(t, now))) }
                                        td {
                                            button type="submit" name="only" value=(l.id) { "Replay" }
                                            " "
                                            button.danger type="submit" formaction="/dead-letters/purge" name="only" value=(l.id) { "Purge" }
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
