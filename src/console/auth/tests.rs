use axum::http::{header, HeaderMap, HeaderValue};

use super::*;

const TOKEN: &str = "s3cret-token-s3cret-token-s3cret-token";
const CSRF: &str = "c5rf-of-the-session";

fn auth() -> Auth {
    Auth::new(Some(Secret::new(TOKEN)))
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            name.clone(),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    map
}

#[test]
fn only_the_configured_token_matches() {
    assert!(auth().token_matches(TOKEN));
    assert!(!auth().token_matches(&TOKEN[1..]));
    assert!(!auth().token_matches(""));
    assert!(!Auth::new(None).token_matches(""));
}

#[test]
fn without_a_configured_token_every_action_is_refused() {
    let none = Auth::new(None);
    let bearer = headers(&[(header::AUTHORIZATION, "Bearer anything")]);
    assert_eq!(
        none.may_act(&bearer, None, None),
        Err(Refusal::NotConfigured)
    );
}

#[test]
fn a_bearer_token_acts_without_a_csrf_token() {
    let ok = headers(&[(header::AUTHORIZATION, &format!("Bearer {TOKEN}"))]);
    assert_eq!(auth().may_act(&ok, None, None), Ok(()));
    let wrong = headers(&[(header::AUTHORIZATION, "Bearer nope")]);
    assert_eq!(
        auth().may_act(&wrong, None, None),
        Err(Refusal::NotLoggedIn)
    );
}

#[test]
fn a_session_acts_only_with_its_csrf_token_from_its_own_origin() {
    let auth = auth();
    let session = Session::logged_in("s1", CSRF);
    let from =
        |origin: &str| headers(&[(header::HOST, "127.0.0.1:9465"), (header::ORIGIN, origin)]);
    let ours = from("http://127.0.0.1:9465");
    let act = |h: &HeaderMap, csrf: Option<&str>| auth.may_act(h, Some(&session), csrf);
    assert_eq!(act(&ours, Some(CSRF)), Ok(()));
    assert_eq!(act(&ours, None), Err(Refusal::Forged));
    assert_eq!(act(&ours, Some("0000")), Err(Refusal::Forged));
    assert_eq!(
        act(&from("http://evil.example"), Some(CSRF)),
        Err(Refusal::Forged)
    );
    assert_eq!(
        act(&from("http://127.0.0.1:94650"), Some(CSRF)),
        Err(Refusal::Forged)
    );
    // No Origin: the Referer decides; neither: refused.
    let referred = headers(&[
        (header::HOST, "127.0.0.1:9465"),
        (header::REFERER, "http://127.0.0.1:9465/batches/b1"),
    ]);
    assert_eq!(act(&referred, Some(CSRF)), Ok(()));
    // `Origin: null` (the page's no-referrer policy): Fetch Metadata decides.
    let fetched = |site: &str| {
        headers(&[
            (header::HOST, "127.0.0.1:9465"),
            (header::ORIGIN, "null"),
            (header::HeaderName::from_static("sec-fetch-site"), site),
        ])
    };
    assert_eq!(act(&fetched("same-origin"), Some(CSRF)), Ok(()));
    for site in ["same-site", "cross-site", "none"] {
        assert_eq!(
            act(&fetched(site), Some(CSRF)),
            Err(Refusal::Forged),
            "{site}"
        );
    }
    let bare = headers(&[(header::HOST, "127.0.0.1:9465")]);
    assert_eq!(act(&bare, Some(CSRF)), Err(Refusal::Forged));
    // No live session (logged out, expired, another token): not logged in.
    assert_eq!(
        auth.may_act(&ours, None, Some(CSRF)),
        Err(Refusal::NotLoggedIn)
    );
}

#[test]
fn reading_off_loopback_needs_a_session_or_the_token() {
    let auth = auth();
    let none = HeaderMap::new();
    assert!(auth.may_read(true, &none, None));
    assert!(!auth.may_read(false, &none, None));
    assert!(auth.may_read(false, &none, Some(&Session::logged_in("s1", CSRF))));
    let bearer = headers(&[(header::AUTHORIZATION, &format!("Bearer {TOKEN}"))]);
    assert!(auth.may_read(false, &bearer, None));
}
