//! The console's two static files, compiled into the binary: the stylesheet and
//! the live-update script. External files because the CSP allows no inline
//! style or script ([`super::headers`]); they hold no data, so they may be cached
//! and are served without a login.

use axum::http::header;
use axum::response::IntoResponse;

const STYLESHEET: &str = include_str!("assets/console.css");
const LIVE_SCRIPT: &str = include_str!("assets/live.js");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

pub async fn live_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        LIVE_SCRIPT,
    )
}
