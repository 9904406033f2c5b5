//! The console in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver, watches a batch progress, finds a job, sees a dead letter with
//! masks only, is refused a replay before logging in and replays it after. Each
//! page is saved as a screenshot under `docs/console/` (the README shows them).
//!
//! Without Chromium the test is skipped loudly, unless `CI` is set: there
//! `scripts/browser.sh` installs it, and the test must run.

#[path = "worker/helpers.rs"]
mod helpers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use id2meta::console::{self, ConsoleSettings};
use id2meta::mock::{population, MockConfig};
use id2meta::queue::dead_letters::DeadLetterQueue;
use id2meta::secret::Secret;
use tokio_util::sync::CancellationToken;

use helpers::{eventually, person_jobs, TestEnv};

const WITHIN: Duration = Duration::from_secs(90);
const TOKEN: &str = "console-test-token-0123456789";
/// Jobs in the batch, and the account QPS that makes it last some seconds.
const BATCH: u64 = 60;
const QPS: f64 = 4.0;
/// The synthetic person whose job becomes the dead letter.
const LETTER_PERSON: u64 = 900;

/// A chromedriver child process, killed when dropped (also when the test fails).
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser_installed() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    };
    Some((find("chromium")?, find("chromedriver")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_driver(chromedriver: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    eventually("chromedriver listens", WITHIN, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    driver
}

async fn open_browser(driver: &Driver, chromium: &Path) -> Client {
    // Already installed by an earlier test in this process: that one is kept.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium.to_string_lossy(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object")
    };
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Saves what the browser shows as `docs/console/<name>.png`.
async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).expect("docs/console");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
}

/// The settled count the batch page shows (`#progress b`), read afresh.
async fn settled_on_page(browser: &Client, url: &str) -> u64 {
    browser.goto(url).await.expect("the batch page");
    let text = browser
        .find(Locator::Css("#progress b"))
        .await
        .expect("the progress line")
        .text()
        .await
        .expect("its text");
    text.trim().parse().expect("a count")
}

async fn click(browser: &Client, button: Locator<'_>) {
    let found = browser.find(button).await.expect("the button");
    found.click().await.expect("clicked");
}

/// Waits until the browser shows `path` (a submitted form's answer loads after
/// the submit returns).
async fn arrive_at(browser: &Client, path: &str) {
    eventually(&format!("the browser at {path}"), WITHIN, || async {
        let url = browser.current_url().await.expect("a URL");
        (url.path() == path).then_some(())
    })
    .await;
}

async fn page_source(browser: &Client) -> String {
    browser.source().await.expect("the page source")
}

#[tokio::test]
async fn an_operator_watches_a_batch_finds_a_job_and_replays_a_masked_dead_letter_only_after_logging_in(
) {
    let Some((chromium, chromedriver)) = browser_installed() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are missing under CI: scripts/browser.sh installs them"
        );
        eprintln!("\n!!!! SKIPPED tests/console.rs: chromium or chromedriver is not installed (scripts/browser.sh installs them)\n");
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
    browser
        .goto(&format!("{base}/login?next=/dead-letters"))
        .await
        .expect("the login form");
    let login = browser
        .form(Locator::Css("form[action='/login']"))
        .await
        .expect("the form");
    login
        .set_by_name("token", TOKEN)
        .await
        .expect("the token typed");
    login.submit().await.expect("logged in");
    arrive_at(&browser, "/dead-letters").await;
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

/// A page of the console as text (no browser: these checks read the HTML).
async fn page_text(base: &str, path: &str) -> String {
    let answer = reqwest::get(format!("{base}{path}"))
        .await
        .expect("the console answers");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.text().await.expect("a page")
}

#[tokio::test]
async fn the_fleet_says_ready_or_paused_and_why_a_claim_names_its_replica_and_a_missing_queue_reads_not_declared(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    env.publish_jobs(&person_jobs("fleet", 3)).await;
    env.wait_for_rows(3, WITHIN).await;
    // The worker recorded itself in the claims it took.
    let (claimed_by, replicas): (Option<uuid::Uuid>, i64) = sqlx::query_as(
        "SELECT (SELECT replica_id FROM job_claims WHERE job_id = 'fleet-0'),
                (SELECT count(*) FROM worker_replicas
                  WHERE replica_id = (SELECT replica_id FROM job_claims WHERE job_id = 'fleet-0'))",
    )
    .fetch_one(env.store.pool())
    .await
    .expect("claims");
    let replica = claimed_by.expect("the claim names its replica");
    assert_eq!(
        replicas, 1,
        "the claim's replica is the worker's heartbeat row"
    );
    // A claim in progress (a row of its own: the worker's finish too fast to look at).
    sqlx::query(
        "INSERT INTO job_claims (job_id, identity_digest, owner, lease_until, attempts, replica_id)
         VALUES ('held', 'd', gen_random_uuid(), now() + interval '1 minute', 2, $1)",
    )
    .bind(replica)
    .execute(env.store.pool())
    .await
    .expect("a claim");
    // A second replica, paused, written by the worker's own readiness writer.
    let paused = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO worker_replicas (replica_id, heartbeat_at) VALUES ($1, now() + interval '1 minute')",
    )
    .bind(paused)
    .execute(env.store.pool())
    .await
    .expect("a replica");
    id2meta::budget::readiness::write(
        env.store.pool(),
        paused,
        Some("paused by an account or environment error: Forbidden.AccountAccessDenied (account)"),
    )
    .await
    .expect("readiness");

    // The console watches job queues nobody declared (the interactive lane
    // included), without the management API: the passive declare's path.
    let mut config = env.config.clone();
    config.jobs_queue = format!("test.{}.undeclared", uuid::Uuid::new_v4().simple());
    let shutdown = CancellationToken::new();
    let settings = ConsoleSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: None,
        management_url: None,
    };
    let running = console::start(config.clone(), settings, shutdown.clone())
        .await
        .expect("the console starts");
    let base = format!("http://{}", running.addr);

    let short = |id: uuid::Uuid| id.simple().to_string()[..8].to_string();
    let overview = eventually("the worker reports itself ready", WITHIN, || async {
        let page = page_text(&base, "/").await;
        page.contains("<td class=\"readiness\"><span class=\"ok\"")
            .then_some(page)
    })
    .await;
    assert!(overview.contains(&short(replica)));
    assert!(
        overview.contains("paused: paused by an account or environment error: Forbidden.AccountAccessDenied (account)"),
        "the paused replica's cause"
    );
    assert!(overview.contains(&format!("{}.interactive", config.jobs_queue)));
    assert_eq!(
        overview.matches("not declared").count(),
        2,
        "both missing job queues read plainly"
    );
    for raw in ["NOT_FOUND", "NOT-FOUND", "protocol error", "404"] {
        assert!(
            !overview.contains(raw),
            "a raw broker error on the page: {raw}"
        );
    }

    let job = page_text(&base, "/jobs/held").await;
    assert!(
        job.contains(&format!("replica <code>{}</code>", short(replica))),
        "the claim's replica, not its task token"
    );
    assert!(job.contains("attempts so far"));

    shutdown.cancel();
    running.wait().await;
    worker.stop().await;
    env.cleanup().await;
}
