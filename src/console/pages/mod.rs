//! The console's HTML, as maud templates: compiled with the binary, and every
//! interpolated value escaped. Pages work without JavaScript; those that move
//! refresh themselves with `<meta http-equiv=refresh>`.

pub mod batches;
pub mod dead_letters;
pub mod job;
pub mod login;
pub mod overview;

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// One small stylesheet, readable on a laptop and a phone (tables scroll sideways).
const STYLE: &str = "
:root{--fg:#1d232a;--muted:#5c6670;--line:#d9dee3;--accent:#1f6feb;--bad:#b42318;--ok:#1a7f37;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center;padding:.6rem 1rem;background:#0d1117;color:#fff}
header a{color:#c9d1d9;text-decoration:none}header a:hover{color:#fff}
header strong{margin-right:.6rem}header .me{margin-left:auto;font-size:.9em}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.4rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:.85em}
.num{text-align:right}.muted{color:var(--muted)}.bad{color:var(--bad)}.ok{color:var(--ok)}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.6rem}
.tile{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem}
.tile b{display:block;font-size:1.4rem}
.bar{height:1.1rem;background:#e7ebef;border-radius:4px;overflow:hidden;margin:.4rem 0}
.bar span{display:block;height:100%;background:var(--accent)}
form.inline{display:inline}
input,button{font:inherit;padding:.3rem .6rem;border:1px solid var(--line);border-radius:4px}
button{background:var(--accent);color:#fff;border-color:var(--accent);cursor:pointer}
button.danger{background:var(--bad);border-color:var(--bad)}
.notice{padding:.6rem .8rem;border-radius:6px;background:#fff8c5;border:1px solid #d4a72c;margin-bottom:1rem}
a{color:var(--accent)}
@media (max-width:40rem){main{padding:.5rem}th,td{padding:.25rem .4rem}}
";

/// What every page needs to know about the viewer.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The session's CSRF token, when logged in with the form.
    pub csrf: Option<String>,
    /// Whether a console token is configured at all (actions possible).
    pub actions: bool,
}

/// The page frame: title, navigation, optional self-refresh, content.
pub fn layout(title: &str, refresh: Option<u32>, viewer: &Viewer, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) " · id2meta console" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "id2meta" }
                    a href="/" { "Fleet" }
                    a href="/batches" { "Batches" }
                    a href="/dead-letters" { "Dead letters" }
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
                main {
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

/// A progress bar, `done` of `total` (empty when the total is unknown).
pub fn bar(done: i64, total: Option<i64>) -> Markup {
    let percent = match total {
        Some(t) if t > 0 => (done as f64 / t as f64 * 100.0).clamp(0.0, 100.0),
        _ => 0.0,
    };
    html! {
        div.bar role="progressbar" aria-valuenow=(format!("{percent:.0}")) aria-valuemin="0" aria-valuemax="100" {
            span style=(format!("width:{percent:.1}%")) {}
        }
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
