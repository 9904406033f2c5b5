//! The console's HTML, as maud templates: compiled with the binary, and every
//! interpolated value escaped. Pages work without JavaScript. Those that move
//! are *live*: `/assets/live.js` fetches the page again every few seconds (not
//! while the tab is hidden) and replaces only the parts of `<main>` that
//! changed, so the reader keeps the scroll position, a selection, a half-typed
//! search; with scripts off, `<noscript><meta http-equiv=refresh>` reloads it.

pub mod audit;
pub mod batches;
pub mod dead_letters;
pub mod job;
pub mod login;
pub mod lookup;
pub mod overview;

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

/// What every page needs to know about the viewer.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The session's CSRF token, when logged in with the form.
    pub csrf: Option<String>,
    /// Whether a console token is configured at all (actions possible).
    pub actions: bool,
}

/// The page frame: title, navigation, content; `live` (seconds) for a page that moves.
pub fn layout(title: &str, live: Option<u32>, viewer: &Viewer, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · id2meta console" }
                link rel="stylesheet" href="/assets/console.css";
                @if let Some(seconds) = live {
                    script src="/assets/live.js" defer {}
                    noscript { meta http-equiv="refresh" content=(seconds); }
                }
            }
            body data-live-every=[live] {
                header {
                    strong { "id2meta" }
                    a href="/" { "Fleet" }
                    a href="/batches" { "Batches" }
                    a href="/dead-letters" { "Dead letters" }
                    a href="/lookup" { "Lookup" }
                    a href="/audit" { "Audit log" }
                    span.me {
                        @if viewer.csrf.is_some() {
                            form.inline method="post" action="/logout" {
                                (csrf_field(viewer))
                                button type="submit" { "Log out" }
                            }
                        } @else if viewer.actions {
                            a href="/login" { "Log in" }
                        } @else {
                            span.muted { "read-only" }
                        }
                    }
                }
                main #main data-live[live.is_some()] {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The hidden CSRF field every action form carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! {
        @if let Some(csrf) = &viewer.csrf {
            input type="hidden" name="csrf" value=(csrf);
        }
    }
}

/// A timestamp as UTC text.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// How long ago, coarsely (`4s`, `3m`, `2h`, `5d`).
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - at).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A progress bar, `done` of `total` (empty when the total is unknown). A
/// `<progress>` element: no inline style, which the console's CSP forbids.
pub fn bar(done: i64, total: Option<i64>) -> Markup {
    let percent = match total {
        Some(t) if t > 0 => (done as f64 / t as f64 * 100.0).clamp(0.0, 100.0),
        _ => 0.0,
    };
    html! {
        progress.bar max="100" value=(format!("{percent:.1}")) { (format!("{percent:.0}%")) }
    }
}

/// A page that says something went wrong, without details a user should not see.
pub fn problem(title: &str, viewer: &Viewer, message: &str) -> Markup {
    layout(title, None, viewer, html! { div.notice { (message) } })
}

/// The first 8 hex digits of a replica id, as the fleet table shows it.
pub fn short_id(id: uuid::Uuid) -> String {
    let mut hex = id.simple().to_string();
    hex.truncate(8);
    hex
}
