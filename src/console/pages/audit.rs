//! `GET /audit`: the audit log, newest first, a page at a time, filtered by
//! action and by age. Every value is escaped like any other page's: an actor or
//! a target came from outside (a client address, a batch id).

use maud::{html, Markup};

use super::batches::enc;
use super::{layout, when, Viewer};
use crate::audit::{Action, Recorded};

/// What the reader asked for, as typed (kept in the form and the next page's link).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<Action>,
    /// A duration as typed (`24h`, `30d`), already checked.
    pub since: Option<String>,
}

impl AuditFilter {
    /// The query of the page after `last_id`, with the same filters.
    pub fn older_href(&self, last_id: i64) -> String {
        let mut href = format!("/audit?before={last_id}");
        if let Some(action) = self.action {
            href.push_str(&format!("&action={}", action.as_str()));
        }
        if let Some(since) = &self.since {
            href.push_str(&format!("&since={}", enc(since)));
        }
        href
    }
}

/// The rows of one page; `older` is the last id when a further page may exist.
pub fn render(
    rows: &[Recorded],
    filter: &AuditFilter,
    older: Option<i64>,
    viewer: &Viewer,
) -> Markup {
    let chosen = filter.action.map(Action::as_str);
    let content = html! {
        section {
            form method="get" action="/audit" #filter {
                label { "Action "
                    select name="action" {
                        option value="" selected[chosen.is_none()] { "any" }
                        @for action in Action::ALL {
                            option value=(action.as_str()) selected[chosen == Some(action.as_str())] { (action.as_str()) }
                        }
                    }
                }
                " "
                label { "Since " input type="text" name="since" size="6" placeholder="24h" value=[filter.since.as_deref()]; }
                " " button type="submit" { "Show" }
                " " a href="/audit" { "clear" }
            }
        }
        section {
            @if rows.is_empty() {
                p.muted #empty { "No action recorded matches." }
            } @else {
                div.scroll { table #audit {
                    thead { tr { th { "id" } th { "at" } th { "action" } th { "origin" } th { "actor" } th { "target" } th { "detail" } } }
                    tbody {
                        @for r in rows {
                            tr {
                                td.num { (r.id) }
                                td { (when(r.at)) }
                                td { code { (r.action) } }
                                td { (r.origin) }
                                td.wrap { (r.actor) }
                                td { (r.target.as_deref().unwrap_or("–")) }
                                td.wrap { code { (r.detail.to_string()) } }
                            }
                        }
                    }
                } }
            }
            @if let Some(last) = older {
                p { a #older href=(filter.older_href(last)) { "Older →" } }
            }
            p.muted { "Kept at least 3 years; nothing deletes from it. Names and ID numbers appear as masks only." }
        }
    };
    layout("Audit log", None, viewer, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_keeps_the_filters_and_escapes_what_was_typed() {
        let filter = AuditFilter {
            action: Some(Action::Lookup),
            since: Some("24h&x=<".into()),
        };
        assert_eq!(
            filter.older_href(41),
            "/audit?before=41&action=lookup&since=24h%26x%3D%3C"
        );
        assert_eq!(AuditFilter::default().older_href(7), "/audit?before=7");
    }

    #[test]
    fn a_hostile_actor_or_target_is_shown_as_text() {
        let row = Recorded {
            id: 3,
            at: chrono::Utc::now(),
            actor: "<script>alert(1)</script>".into(),
            action: "export".into(),
            target: Some("\"><img src=x>".into()),
            detail: serde_json::json!({"rows": "<b>"}),
            origin: "console".into(),
        };
        let page = render(&[row], &AuditFilter::default(), None, &Viewer::default()).into_string();
        assert!(
            !page.contains("<script>alert")
                && !page.contains("<img src=x>")
                && !page.contains("<b>"),
            "{page}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
}
