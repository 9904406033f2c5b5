//! `GET /audit` over HTTP: newest first, a page at a time by id, filtered by
//! action and age, every value escaped, answered `no-store` like every page.

use id2meta::audit::{Action, Actor};
use id2meta::mock::MockConfig;
use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION};
use reqwest::StatusCode;

use crate::browser::TOKEN;
use crate::helpers::TestEnv;
use crate::security::{client, log_in, Console};

/// The ids of the rows a page lists (the first cell of each), in order.
fn ids_on(page: &str) -> Vec<i64> {
    page.split("<td class=\"num\">")
        .skip(1)
        .filter_map(|cell| cell.split('<').next()?.parse().ok())
        .collect()
}

/// The `href` of the page's "Older" link, HTML entities undone.
fn older_link(page: &str) -> Option<String> {
    let start = page.find("id=\"older\" href=\"")? + 17;
    Some(page[start..].split('"').next()?.replace("&amp;", "&"))
}

#[tokio::test]
async fn the_audit_page_pages_newest_first_filters_by_action_and_age_and_escapes_what_it_shows() {
    let env = TestEnv::new(MockConfig::default()).await;
    let db = env.store.pool();
    let actor = Actor::console("s1", "127.0.0.1");
    for _ in 0..60 {
        id2meta::audit::record(db, &actor, Action::Login, None, &serde_json::json!({}))
            .await
            .expect("a login row");
    }
    let hostile = Actor::console("<script>alert(1)</script>", "127.0.0.1");
    let export = id2meta::audit::record(
        db,
        &hostile,
        Action::Export,
        Some("\"><img src=x onerror=alert(2)>"),
        &serde_json::json!({"rows": 3}),
    )
    .await
    .expect("an export row");
    sqlx::query(
        "INSERT INTO operator_actions (at, actor, action, detail, origin)
         VALUES (now() - interval '2 days', 'old@host', 'forget', '{}', 'cli')",
    )
    .execute(db)
    .await
    .expect("an old row");
    let console = Console::start(&env.config, None).await;
    let get = |path: String| {
        let url = format!("{}{path}", console.base);
        async move { client().get(url).send().await.expect("an answer") }
    };

    let html = |path: &'static str| {
        let answer = get(path.into());
        async move { answer.await.text().await.expect("HTML") }
    };

    let first = get("/audit".into()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[CACHE_CONTROL], "no-store");
    let first = first.text().await.expect("HTML");
    assert!(
        first.contains("href=\"/audit\""),
        "linked from the navigation"
    );
    let ids = ids_on(&first);
    assert_eq!(ids.len(), 50);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(
        ids[0],
        export + 1,
        "the newest row (the old-dated forget) leads"
    );
    assert!(!first.contains("<script>alert") && !first.contains("<img src=x"));
    assert!(first.contains("session &lt;script&gt;alert(1)&lt;/script&gt; from 127.0.0.1"));
    let second = get(older_link(&first).expect("an older page"))
        .await
        .text()
        .await
        .expect("HTML");
    let rest = ids_on(&second);
    assert_eq!(rest.len(), 12, "62 rows in all");
    assert!(rest[0] < ids[49] && older_link(&second).is_none());

    let exports = html("/audit?action=export").await;
    assert_eq!(ids_on(&exports), [export]);
    assert!(
        exports.contains("<option value=\"export\" selected>"),
        "the filter is kept"
    );
    let recent = ids_on(&html("/audit?since=1h").await);
    assert!(!recent.contains(&(export + 1)) && recent.contains(&export));
    let old_forgets = ids_on(&html("/audit?action=forget&since=3d").await);
    assert_eq!(old_forgets, [export + 1]);
    for bad in ["/audit?action=drop", "/audit?since=soon", "/audit?before=x"] {
        assert_eq!(
            get(bad.into()).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn off_loopback_the_audit_page_and_the_lookup_form_need_a_login_like_every_data_page() {
    let env = TestEnv::new(MockConfig::default()).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let settings = id2meta::console::ConsoleSettings {
        listen: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        token: Some(id2meta::secret::Secret::new(TOKEN)),
        management_url: None,
    };
    let running = id2meta::console::start(env.config.clone(), settings, shutdown.clone())
        .await
        .expect("the console starts");
    let base = format!("http://127.0.0.1:{}", running.addr.port());
    let (cookie, _) = log_in(&base, TOKEN).await;
    for path in ["/audit", "/lookup", "/batches"] {
        let anonymous = client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(anonymous.headers()[LOCATION], "/login", "{path}");
        let logged_in = client()
            .get(format!("{base}{path}"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("an answer");
        assert_eq!(logged_in.status(), StatusCode::OK, "{path}");
    }
    shutdown.cancel();
    running.wait().await;
    env.cleanup().await;
}
