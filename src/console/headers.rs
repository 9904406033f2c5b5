//! The security headers every console response carries, set in one middleware
//! so no page, export, redirect or error can leave one out.
//!
//! - `Content-Security-Policy`: only this origin's own stylesheet and script
//!   (no inline script or style, so an injected tag would not run), forms post
//!   only here, and `frame-ancestors 'none'`: no other page may frame the console
//!   (a framed console under a decoy button is clickjacking; `SameSite=Strict`
//!   does not stop a same-site frame).
//! - `X-Frame-Options: DENY`: the same for browsers that predate CSP level 2.
//! - `X-Content-Type-Options: nosniff`: a CSV is never run as a script.
//! - `Referrer-Policy: no-referrer`: batch and job ids in URLs stay here.
//! - `Cache-Control: no-store`: masked rows are still personal data; no disk
//!   cache or shared proxy keeps a page or an export (the two static assets,
//!   which hold no data, may be cached).

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The console's policy: its own `/assets/` only, nothing inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Where the static, data-free files live (cacheable).
pub const ASSETS: &str = "/assets/";

pub async fn secure(request: Request, next: Next) -> Response {
    let cacheable = request.uri().path().starts_with(ASSETS);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, value);
    }
    let cache = if cacheable {
        "public, max-age=300"
    } else {
        "no-store"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}
