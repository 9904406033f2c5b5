//! `GET /batches` and `GET /batches/{batch_id}`.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::{ago, bar, csrf_field, layout, when, Viewer};
use crate::console::reads::batches::{BatchLine, Cursor, MaskedRow};
use crate::progress::{human, BatchProgress};

pub fn list(
    lines: &[BatchLine],
    next: Option<&str>,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Markup {
    let content = html! {
        section {
            @if lines.is_empty() {
                p.muted { "No batch yet." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "batch" } th.num { "enqueued" } th { "first enqueued" } th { "" } } }
                    tbody {
                        @for b in lines {
                            tr {
                                td { a href=(batch_href(&b.batch_id)) { (b.batch_id) } }
                                td.num { (b.enqueued.map_or_else(|| "–".to_string(), |n| n.to_string())) }
                                td { (b.created_at.map_or_else(|| "–".to_string(), |t| format!("{} ago", ago(t, now)))) }
                                td { @if b.cancelled_at.is_some() { span.bad { "cancelled" } } }
                            }
                        }
                    }
                } }
            }
            @if let Some(after) = next {
                p { a href=(format!("/batches?after={}", enc(after))) { "Next page →" } }
            }
        }
    };
    layout("Batches", None, viewer, content)
}

/// What the batch page shows.
pub struct BatchView<'a> {
    pub batch_id: &'a str,
    pub progress: &'a BatchProgress,
    pub started: Option<DateTime<Utc>>,
    pub last_completed: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The batch's billed calls priced: `USD 7.71`.
    pub spend: &'a str,
    pub rows: &'a [MaskedRow],
    pub next: Option<Cursor>,
    pub notice: Option<&'a str>,
}

pub fn detail(v: &BatchView<'_>, viewer: &Viewer) -> Markup {
    let p = v.progress;
    let finished = p.is_finished() || v.cancelled_at.is_some() && p.pending.is_none();
    let href = batch_href(v.batch_id);
    let content = html! {
        @if let Some(notice) = v.notice { div.notice { (notice) } }
        section {
            (bar(p.done, p.enqueued))
            p #progress {
                b { (p.done) } " of " (p.enqueued.map_or_else(|| "an unrecorded number of".to_string(), |n| n.to_string()))
                " jobs settled"
                @if let Some(pending) = p.pending { ", " (pending) " pending" }
                @if let Some(rate) = p.rate { " · " (format!("{rate:.1}")) " jobs/s" }
                @if let Some(eta) = p.eta { @if !p.is_finished() { " · ETA " (human(eta)) } }
            }
            p.muted {
                "Started " (v.started.map_or_else(|| "–".to_string(), when))
                @if p.is_finished() { " · finished " (v.last_completed.map_or_else(|| "–".to_string(), when)) }
                @if let Some(at) = v.cancelled_at { " · " span.bad { "cancelled " (when(at)) } }
            }
            p #spend {
                b { (p.billed) } " billed calls (BizCode 1 and 2; no record is free) · " b { (v.spend) }
            }
            table #counts {
                thead { tr { @for (status, _) in &p.by_status { th.num { (status.as_str()) } } } }
                tbody { tr { @for (status, n) in &p.by_status { td.num data-status=(status.as_str()) { (n) } } } }
            }
            p {
                a href=(format!("{href}/export.csv")) { "Export CSV (masked)" }
                @if viewer.actions && v.cancelled_at.is_none() && !p.is_finished() {
                    " · "
                    form.inline method="post" action=(format!("{href}/cancel")) {
                        (csrf_field(viewer))
                        button.danger type="submit" { "Cancel this batch" }
                    }
                }
            }
        }
        section {
            h2 { "Find a job" }
            form method="get" action="/jobs" {
                input type="search" name="job_id" placeholder="job_id" required;
                " " button type="submit" { "Find" }
            }
        }
        section {
            h2 { "Rows" }
            div.scroll { table #rows {
                thead { tr { th { "job_id" } th { "status" } th { "code" } th.num { "attempts" } th { "name" } th { "ID number" } th { "completed" } } }
                tbody {
                    @for r in v.rows {
                        tr {
                            td { a href=(format!("/jobs/{}", enc(&r.job_id))) { (r.job_id) } }
                            td { (r.status) }
                            td { (r.upstream_code.as_deref().unwrap_or("–")) }
                            td.num { (r.attempts) }
                            td { (r.name_masked.as_deref().unwrap_or("")) }
                            td { (r.id_number_masked.as_deref().unwrap_or("")) }
                            td { (when(r.completed_at)) }
                        }
                    }
                }
            } }
            @if let Some(c) = &v.next {
                p { a href=(format!("{href}?after_at={}&after_id={}", enc(&c.completed_at.to_rfc3339()), enc(&c.job_id))) { "Next rows →" } }
            }
        }
    };
    layout(
        &format!("Batch {}", v.batch_id),
        (!finished).then_some(2),
        viewer,
        content,
    )
}

pub fn batch_href(batch_id: &str) -> String {
    format!("/batches/{}", enc(batch_id))
}

/// Everything but RFC 3986's unreserved characters, which stay as they are so a
/// job's URL reads as its id (`/jobs/b1-0`, not `/jobs/b1%2D0`).
const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment or query value, percent-encoded.
pub fn enc(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::enc;

    #[test]
    fn ids_keep_their_unreserved_characters_and_everything_else_is_encoded() {
        assert_eq!(enc("b1-0_x.y~z"), "b1-0_x.y~z");
        assert_eq!(enc("a/b c?d&e%"), "a%2Fb%20c%3Fd%26e%25");
    }
}
