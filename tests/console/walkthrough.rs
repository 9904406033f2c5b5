//! An operator's walk through the console in the browser: a batch in progress,
//! a job found, a masked dead letter replayed only after logging in.

use std::net::SocketAddr;
use std::time::Duration;

use fantoccini::Locator;
use id2meta::console::{self, ConsoleSettings};
use id2meta::mock::{population, MockConfig};
use id2meta::queue::dead_letters::DeadLetterQueue;
use id2meta::secret::Secret;
use tokio_util::sync::CancellationToken;

use crate::browser::*;
use crate::helpers::{eventually, person_jobs, TestEnv};

/// Jobs in the batch, and the account QPS that makes it last some seconds.
const BATCH: u64 = 60;
const QPS: f64 = 4.0;
/// The synthetic person whose job becomes the dead letter.
const LETTER_PERSON: u64 = 900;

#[tokio::test]
async fn an_operator_watches_a_batch_finds_a_job_and_replays_a_masked_dead_letter_only_after_logging_in(
) {
    let Some((chromium, chromedriver)) = browser_installed() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are missing under CI: scripts/browser.sh installs them"
        );
        eprintln!("\n!!!! SKIPPED tests/console/walkthrough.rs: chromium or chromedriver is not installed (scripts/browser.sh installs them)\n");
        return;
    };

    let env = TestEnv::new(MockConfig::default()).await;
    // A letter of the broker's own: it spent its delivery limit before any worker ran.
    let (name, id_number, _) = population::person(LETTER_PERSON);
    let letter_job = serde_json::json!({
        "job_id": "replayed", "name": name, "id_number": id_number, "batch_id": "letters"
    });
    env.publish_jobs(&[letter_job]).await;
    env.exhaust_delivery_limit().await;

    let mut config = env.config.clone();
    config.qps = QPS;
    config.concurrency = 4;
    let worker = env.start_worker_with(config.clone()).await;

    let shutdown = CancellationToken::new();
    let settings = ConsoleSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: Some(Secret::new(TOKEN)),
        // scripts/services.sh --with-management enables it; the page copes without.
        management_url: Some("http://guest:guest@127.0.0.1:15672".into()),
    };
    let running = console::start(config.clone(), settings, shutdown.clone())
        .await
        .expect("the console starts");
    let base = format!("http://{}", running.addr);

    // The browser first (it starts slowly on a loaded machine), then the batch.
    let driver = start_driver(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;
    // Recorded as `id2meta enqueue` records it, so the page knows the total.
    env.store
        .record_enqueued("b1", BATCH as i64)
        .await
        .expect("the batch's size recorded");
    env.publish_jobs(&person_jobs("b1", BATCH)).await;

    // The overview and the batch list while the batch runs.
    browser.goto(&format!("{base}/")).await.expect("overview");
    eventually("the batch list links the batch", WITHIN, || async {
        browser
            .goto(&format!("{base}/batches"))
            .await
            .expect("batches");
        let link = browser.find(Locator::Css("a[href='/batches/b1']")).await;
        link.ok().map(|_| ())
    })
    .await;
    screenshot(&browser, "batches").await;

    // The batch page: its progress moves between two readings.
    let batch_url = format!("{base}/batches/b1");
    let first = settled_on_page(&browser, &batch_url).await;
    assert!(
        first < BATCH,
        "the batch was still running at the first reading"
    );
    let mut second = first;
    let deadline = tokio::time::Instant::now() + WITHIN;
    while second == first {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the progress never moved from {first}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        second = settled_on_page(&browser, &batch_url).await;
    }
    assert!(second > first, "progress went from {first} to {second}");
    screenshot(&browser, "batch").await;
    // The overview again, now with upstream codes to show.
    browser.goto(&format!("{base}/")).await.expect("overview");
    screenshot(&browser, "overview").await;
    browser.goto(&batch_url).await.expect("the batch page");

    // The job search finds a settled job by its id.
    env.wait_for_rows(1, WITHIN).await;
    let settled = env.rows().await;
    let job_id = settled
        .iter()
        .find(|r| r.job_id.starts_with("b1-"))
        .map(|r| r.job_id.clone())
        .expect("a settled job of the batch");
    let search = browser
        .form(Locator::Css("form[action='/jobs']"))
        .await
        .expect("the job search");
    search
        .set_by_name("job_id", &job_id)
        .await
        .expect("the job id typed");
    search.submit().await.expect("searched");
    arrive_at(&browser, &format!("/jobs/{job_id}")).await;
    assert!(page_source(&browser).await.contains(&job_id));
    screenshot(&browser, "job").await;

    // The dead letter, once the worker has sealed it: masks only.
    let queue = DeadLetterQueue::from_config(&config)
        .await
        .expect("dead letters");
    let letter = eventually("the letter is sealed", WITHIN, || async {
        let letters = queue.list(10).await.expect("list");
        (letters.len() == 1 && letters[0].sealed).then(|| letters[0].clone())
    })
    .await;
    let letters_url = format!("{base}/dead-letters");
    browser.goto(&letters_url).await.expect("dead letters");
    let source = page_source(&browser).await;
    assert!(source.contains("replayed"), "the letter's job_id shows");
    for mask in [&letter.name_masked, &letter.id_number_masked] {
        let mask = mask.as_deref().expect("a mask");
        assert!(
            mask.contains('*') && source.contains(mask),
            "the masks show"
        );
    }
    let mut plaintext = vec![name.clone(), id_number.clone(), id_number[..17].to_string()];
    for i in 0..BATCH {
        let (name, id_number, _) = population::person(i);
        plaintext.extend([name, id_number]);
    }
    for secret in &plaintext {
        assert!(
            !source.contains(secret.as_str()),
            "plaintext in the dead-letter page"
        );
    }
    screenshot(&browser, "dead-letters").await;

    // Replay without logging in: refused, and the letter stays.
    let replay = Locator::Css("button[data-job='replayed']");
    click(&browser, replay).await;
    // The click may return before the answer's page has loaded: await it.
    let refused = eventually("the refusal page", WITHIN, || async {
        let source = page_source(&browser).await;
        (!source.contains("data-job=\"replayed\"")).then_some(source)
    })
    .await;
    assert!(
        refused.contains("Not allowed"),
        "a replay without the token is refused: {refused}"
    );
    assert_eq!(
        queue.list(10).await.expect("list").len(),
        1,
        "the letter is still there"
    );
    assert!(
        env.rows().await.iter().all(|r| r.job_id != "replayed"),
        "nothing replayed"
    );

    // Log in through the form, then replay: the job completes, once.
    log_in_at(&browser, &base, "/dead-letters").await;
    click(&browser, replay).await;
    let replayed = eventually("the replayed job's row", WITHIN, || async {
        let rows: Vec<_> = env
            .rows()
            .await
            .into_iter()
            .filter(|r| r.job_id == "replayed")
            .collect();
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(replayed.len(), 1, "one row for the replayed job");
    eventually("the letter left the queue", WITHIN, || async {
        queue.list(10).await.expect("list").is_empty().then_some(())
    })
    .await;

    let _ = browser.close().await;
    drop(driver);
    shutdown.cancel();
    running.wait().await;
    worker.stop().await;
    env.cleanup().await;
}
