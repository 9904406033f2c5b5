//! A live page in the real browser: logged in, scrolled down a running batch,
//! a text selected; the counts move without the page reloading, and the reader
//! keeps the scroll position and the selection. With scripts off the page
//! still refreshes itself.

use fantoccini::Locator;
use id2meta::mock::MockConfig;

use crate::browser::*;
use crate::helpers::{eventually, person_jobs, TestEnv};
use crate::security::Console;

const BATCH: u64 = 60;

#[tokio::test]
async fn a_logged_in_walk_keeps_its_scroll_position_and_selection_while_counts_move() {
    let Some((driver, browser)) = chromium("tests/console/live.rs").await else {
        return;
    };
    let env = TestEnv::new(MockConfig::default()).await;
    let mut config = env.config.clone();
    config.qps = 4.0;
    config.concurrency = 4;
    let worker = env.start_worker_with(config.clone()).await;
    let console = Console::start(&config, Some(TOKEN)).await;

    log_in_at(&browser, &console.base, "/batches/b1").await;

    env.store
        .record_enqueued("b1", BATCH as i64)
        .await
        .expect("the batch's size");
    env.publish_jobs(&person_jobs("b1", BATCH)).await;
    let batch_url = format!("{}/batches/b1", console.base);
    // Enough rows for the page to scroll, and the batch still running.
    eventually("a page tall enough to scroll", WITHIN, || async {
        browser.goto(&batch_url).await.ok()?;
        let tall = browser
            .execute(
                "return document.documentElement.scrollHeight - window.innerHeight;",
                vec![],
            )
            .await
            .ok()?;
        (tall.as_f64()? >= 200.0).then_some(())
    })
    .await;
    let settled = |browser: &fantoccini::Client| {
        let browser = browser.clone();
        async move {
            let text = browser
                .find(Locator::Css("#progress b"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.trim().parse::<u64>().ok()
        }
    };
    let first = settled(&browser).await.expect("a count");
    assert!(first < BATCH, "the batch still runs at the first reading");
    // The reader scrolls down and selects the page's title; a mark on the
    // window would vanish with a reload.
    let setup = browser
        .execute(
            "window.scrollTo(0, 200); window.__kept = 'this page'; \
             var range = document.createRange(); range.selectNodeContents(document.querySelector('h1')); \
             var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range); \
             return [window.scrollY, sel.toString()];",
            vec![],
        )
        .await
        .expect("scrolled and selected");
    assert_eq!(setup[0].as_f64(), Some(200.0));
    assert_eq!(setup[1].as_str(), Some("Batch b1"));

    let moved = eventually("the count moves on the page", WITHIN, || async {
        let now = settled(&browser).await?;
        (now > first).then_some(now)
    })
    .await;
    let after = browser
        .execute(
            "return [window.__kept || null, window.scrollY, window.getSelection().toString()];",
            vec![],
        )
        .await
        .expect("read back");
    assert_eq!(after[0].as_str(), Some("this page"), "the page reloaded");
    assert_eq!(
        after[1].as_f64(),
        Some(200.0),
        "the scroll position moved (count {first} -> {moved})"
    );
    assert_eq!(
        after[2].as_str(),
        Some("Batch b1"),
        "the selection was lost"
    );

    let _ = browser.close().await;
    drop(driver);
    console.stop().await;
    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn without_scripts_a_live_page_refreshes_itself_and_a_settled_one_does_not() {
    let env = TestEnv::new(MockConfig::default()).await;
    env.store
        .record_enqueued("moving", 5)
        .await
        .expect("a batch");
    let console = Console::start(&env.config, None).await;
    let page = |path: &'static str| {
        let url = format!("{}{path}", console.base);
        async move {
            id2meta::tls::get(url)
                .await
                .expect("a page")
                .text()
                .await
                .expect("HTML")
        }
    };
    let moving = page("/batches/moving").await;
    assert!(
        moving.contains("<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>"),
        "{moving}"
    );
    assert!(moving.contains("<script src=\"/assets/live.js\" defer></script>"));
    assert!(moving.contains("data-live-every=\"2\""));
    assert!(!moving.contains("<script>"), "no inline script");
    let settled = page("/batches").await;
    assert!(
        !settled.contains("live.js") && !settled.contains("refresh"),
        "{settled}"
    );
    console.stop().await;
    env.cleanup().await;
}
