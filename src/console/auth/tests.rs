use axum::http::{header, HeaderMap, HeaderValue};

use super::*;

const NOW: i64 = 1_800_000_000;

fn auth() -> Auth {
    Auth::new(Some(Secret::new("s3cret-token")))
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

fn logged_in(auth: &Auth) -> (String, String) {
    let cookie = auth.new_session(NOW).expect("a session");
    let session = auth
        .session(
            &headers(&[(header::COOKIE, &format!("{COOKIE}={cookie}"))]),
            NOW,
        )
        .expect("the new session verifies");
    (cookie, auth.csrf(&session))
}

#[test]
fn only_the_configured_token_matches() {
    assert!(auth().token_matches("s3cret-token"));
    assert!(!auth().token_matches("s3cret-toke"));
    assert!(!auth().token_matches(""));
    assert!(!Auth::new(None).token_matches(""));
}

#[test]
fn without_a_configured_token_every_action_is_refused() {
    let none = Auth::new(None);
    let bearer = headers(&[(header::AUTHORIZATION, "Bearer anything")]);
    assert_eq!(
        none.may_act(&bearer, None, NOW),
        Err(Refusal::NotConfigured)
    );
    assert_eq!(none.new_session(NOW), None);
}

#[test]
fn a_bearer_token_acts_without_a_csrf_token() {
    let ok = headers(&[(header::AUTHORIZATION, "Bearer s3cret-token")]);
    assert_eq!(auth().may_act(&ok, None, NOW), Ok(()));
    let wrong = headers(&[(header::AUTHORIZATION, "Bearer nope")]);
    assert_eq!(auth().may_act(&wrong, None, NOW), Err(Refusal::NotLoggedIn));
}

#[test]
fn a_session_acts_only_with_its_csrf_token_from_its_own_origin() {
    let auth = auth();
    let (cookie, csrf) = logged_in(&auth);
    let cookie = format!("{COOKIE}={cookie}");
    let from = |origin: &str| {
        headers(&[
            (header::COOKIE, &cookie),
            (header::HOST, "127.0.0.1:9465"),
            (header::ORIGIN, origin),
        ])
    };
    let ours = from("http://127.0.0.1:9465");
    assert_eq!(auth.may_act(&ours, Some(&csrf), NOW), Ok(()));
    assert_eq!(auth.may_act(&ours, None, NOW), Err(Refusal::Forged));
    assert_eq!(auth.may_act(&ours, Some("0000"), NOW), Err(Refusal::Forged));
    let theirs = from("http://evil.example");
    assert_eq!(
        auth.may_act(&theirs, Some(&csrf), NOW),
        Err(Refusal::Forged)
    );
    let prefix = from("http://127.0.0.1:94650");
    assert_eq!(
        auth.may_act(&prefix, Some(&csrf), NOW),
        Err(Refusal::Forged)
    );
    // No Origin: the Referer decides; neither: refused.
    let referred = headers(&[
        (header::COOKIE, &cookie),
        (header::HOST, "127.0.0.1:9465"),
        (header::REFERER, "http://127.0.0.1:9465/batches/b1"),
    ]);
    assert_eq!(auth.may_act(&referred, Some(&csrf), NOW), Ok(()));
    let bare = headers(&[(header::COOKIE, &cookie), (header::HOST, "127.0.0.1:9465")]);
    assert_eq!(auth.may_act(&bare, Some(&csrf), NOW), Err(Refusal::Forged));
}

#[test]
fn a_forged_or_expired_or_foreign_session_is_no_session() {
    let auth = auth();
    let (cookie, _) = logged_in(&auth);
    // Change the signature's last character (to another one, whatever it was).
    let (kept, last) = cookie.split_at(cookie.len() - 1);
    let flipped = if last == "0" { "1" } else { "0" };
    let forged = format!("{COOKIE}={kept}{flipped}");
    assert_eq!(
        auth.session(&headers(&[(header::COOKIE, &forged)]), NOW),
        None
    );
    let genuine = headers(&[(header::COOKIE, &format!("other=1; {COOKIE}={cookie}"))]);
    assert!(auth.session(&genuine, NOW + 60).is_some());
    assert_eq!(auth.session(&genuine, NOW + SESSION_SECONDS + 1), None);
    let other_token = Auth::new(Some(Secret::new("another")));
    assert_eq!(other_token.session(&genuine, NOW), None);
}

#[test]
fn the_cookie_is_http_only_and_same_site_strict() {
    let set = Auth::cookie(Some("v"));
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(Auth::cookie(None).contains("Max-Age=0"));
}
