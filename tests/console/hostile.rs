//! The console against a hostile page, in the real browser: another origin
//! cannot frame it, a login cannot be sent off the console whatever `next`
//! holds, and a session ended by logout cannot act.

use std::net::SocketAddr;

use axum::response::Html;
use fantoccini::{Client, Locator};
use id2meta::mock::MockConfig;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::browser::*;
use crate::helpers::{eventually, TestEnv};
use crate::security::{client, post_form, Console};

/// The browser, or `None` (skipped loudly) where Chromium is not installed.
async fn chromium() -> Option<(Driver, Client)> {
    let Some((chromium, chromedriver)) = browser_installed() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are missing under CI: scripts/browser.sh installs them"
        );
        eprintln!(
            "\n!!!! SKIPPED tests/console/hostile.rs: chromium or chromedriver is not installed\n"
        );
        return None;
    };
    let driver = start_driver(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;
    Some((driver, browser))
}

/// Logs in through the form, with `next` set to `raw` as a page could set it.
async fn log_in_with_next(browser: &Client, base: &str, raw: &str) {
    browser
        .goto(&format!("{base}/login"))
        .await
        .expect("the login form");
    browser
        .execute(
            "document.querySelector('input[name=next]').value = arguments[0];",
            vec![serde_json::json!(raw)],
        )
        .await
        .expect("next set");
    let form = browser
        .form(Locator::Css("form[action='/login']"))
        .await
        .expect("the form");
    form.set_by_name("token", TOKEN)
        .await
        .expect("the token typed");
    form.submit().await.expect("submitted");
}

#[tokio::test]
async fn a_page_on_another_origin_cannot_frame_the_console() {
    let Some((driver, browser)) = chromium().await else {
        return;
    };
    let env = TestEnv::new(MockConfig::default()).await;
    let console = Console::start(&env.config, Some(TOKEN)).await;
    // The attacker: a page on another port of the same host, framing the console.
    let frame = format!(
        "<!doctype html><title>decoy</title><iframe id=victim width=900 height=600 src=\"{}/dead-letters\"></iframe>",
        console.base
    );
    let decoy =
        axum::Router::new().route("/", axum::routing::get(move || async move { Html(frame) }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a port");
    let decoy_addr = listener.local_addr().expect("its address");
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, decoy)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await;
    });

    // The console itself shows in a top-level window.
    browser
        .goto(&format!("{}/dead-letters", console.base))
        .await
        .expect("the page");
    assert!(page_source(&browser).await.contains("Dead letters"));
    browser
        .goto(&format!("http://{decoy_addr}/"))
        .await
        .expect("the decoy");
    let framed = eventually("the frame has loaded something", WITHIN, || async {
        browser.enter_frame(0).await.ok()?;
        let source = browser.source().await.ok();
        browser.enter_parent_frame().await.ok()?;
        source.filter(|s| !s.trim().is_empty() && s != "<html><head></head><body></body></html>")
    })
    .await;
    assert!(
        !framed.contains("Dead letters") && !framed.contains("id2meta"),
        "the console rendered inside another origin's frame: {framed}"
    );

    let _ = browser.close().await;
    drop(driver);
    stop.cancel();
    let _ = server.await;
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_login_never_leads_off_the_console_whatever_next_says() {
    let Some((driver, browser)) = chromium().await else {
        return;
    };
    let env = TestEnv::new(MockConfig::default()).await;
    let console = Console::start(&env.config, Some(TOKEN)).await;
    let mut hostile: Vec<String> = vec![
        "//evil.example/".into(),
        "https://evil.example/".into(),
        "/\\evil.example/".into(),
        "\\/evil.example/".into(),
        "/\\/evil.example/".into(),
        "javascript:alert(1)".into(),
        "http:evil.example".into(),
    ];
    for stripped in ['\t', '\r', '\n'] {
        hostile.push(format!("/{stripped}/evil.example/"));
        hostile.push(format!("{stripped}//evil.example/"));
        hostile.push(format!("/{stripped}\\evil.example/"));
    }
    for raw in &hostile {
        log_in_with_next(&browser, &console.base, raw).await;
        let url = eventually(
            &format!("the browser leaves /login after next={raw:?}"),
            WITHIN,
            || async {
                let url = browser.current_url().await.ok()?;
                (url.path() != "/login").then_some(url)
            },
        )
        .await;
        assert_eq!(
            url.host_str(),
            Some("127.0.0.1"),
            "next={raw:?} led to {url}"
        );
        assert_eq!(
            url.port(),
            Some(console.addr.port()),
            "next={raw:?} led to {url}"
        );
        assert_eq!(url.path(), "/", "next={raw:?} led to {url}");
    }
    // A path of the console is kept.
    log_in_with_next(&browser, &console.base, "/batches").await;
    arrive_at(&browser, "/batches").await;

    let _ = browser.close().await;
    drop(driver);
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_session_ended_by_logout_cannot_act() {
    let Some((driver, browser)) = chromium().await else {
        return;
    };
    let env = TestEnv::new(MockConfig::default()).await;
    env.store.record_enqueued("b1", 10).await.expect("a batch");
    let console = Console::start(&env.config, Some(TOKEN)).await;
    log_in_with_next(&browser, &console.base, "/batches/b1").await;
    arrive_at(&browser, "/batches/b1").await;
    // What a kept cookie and a kept page would replay later.
    let source = page_source(&browser).await;
    let start = source.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = source[start..]
        .split('"')
        .next()
        .expect("its value")
        .to_string();
    let cookies = browser.get_all_cookies().await.expect("cookies");
    let kept = cookies
        .iter()
        .find(|c| c.name() == "id2meta_console")
        .expect("the session cookie");
    let kept = format!("{}={}", kept.name(), kept.value());

    click(&browser, Locator::Css("form[action='/logout'] button")).await;
    arrive_at(&browser, "/").await;
    assert!(
        page_source(&browser).await.contains("href=\"/login\""),
        "logged out"
    );
    let status = post_form(
        &console.base,
        "/batches/b1/cancel",
        &kept,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the ended session's cookie cannot act"
    );
    assert_eq!(
        env.store.batch_cancelled_at("b1").await.expect("read"),
        None
    );
    let page = client()
        .get(format!("{}/batches/b1", console.base))
        .header(reqwest::header::COOKIE, &kept)
        .send()
        .await
        .expect("a page")
        .text()
        .await
        .expect("HTML");
    assert!(
        !page.contains("name=\"csrf\""),
        "the ended session is no longer logged in"
    );

    let _ = browser.close().await;
    drop(driver);
    console.stop().await;
    env.cleanup().await;
}
