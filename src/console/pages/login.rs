//! `GET /login`: the form that turns the console token into a session cookie.

use maud::{html, Markup};

use super::{layout, Viewer};

pub fn render(viewer: &Viewer, failed: bool, next: &str) -> Markup {
    let content = html! {
        section {
            @if !viewer.actions {
                div.notice { "No ID2META_CONSOLE_TOKEN is configured: the console is read-only." }
            } @else {
                @if failed { div.notice { "That is not the console token." } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "Console token " input type="password" name="token" autocomplete="current-password" required; }
                    " " button type="submit" { "Log in" }
                }
                p.muted { "The session lasts 12 hours, in an HttpOnly cookie." }
            }
        }
    };
    layout("Log in", None, viewer, content)
}
