//! `POST /lookup` in a real browser: a logged-in operator types a person's name
//! and ID number and sees the masked rows; afterwards neither the browser's
//! history, nor the console's log (at `debug`), nor any table, nor the audit row
//! holds what was typed. A plain `GET /lookup` shows the empty form only.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, Locator};
use id2meta::identity::Pseudonyms;
use id2meta::mock::MockConfig;
use id2meta::secret::Secret;
use reqwest::header::{CACHE_CONTROL, COOKIE, ORIGIN};
use reqwest::StatusCode;

use crate::browser::*;
use crate::helpers::{eventually, TestEnv, PII_KEY};
use crate::rows::{every_table_as_text, insert_settled};
use crate::security::{client, csrf_of, log_in, post_form, Console};

/// The synthetic person looked up.
const PERSON: u64 = 7;

/// `id2meta console` as its own process, its log in a file; killed on drop.
struct ConsoleProcess {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl ConsoleProcess {
    async fn start(env: &TestEnv) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("console-lookup-{port}.log"));
        let file = std::fs::File::create(&log).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_id2meta"))
            .args(["console", "--listen", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &env.config.database_url)
            .env("AMQP_URL", &env.config.amqp_url)
            .env("ID2META_JOBS_QUEUE", &env.config.jobs_queue)
            .env("ID2META_PII_KEY", PII_KEY)
            .env("ID2META_CONSOLE_TOKEN", TOKEN)
            .env("ID2META_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file again"))
            .stderr(file)
            .spawn()
            .expect("the console starts");
        let process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        wait_listening("the console", port).await;
        process
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).expect("the console's log")
    }
}

/// Where the browser is, as a full URL.
async fn at(browser: &Client) -> String {
    browser.current_url().await.expect("a URL").to_string()
}

#[tokio::test]
async fn a_lookup_from_the_form_shows_masked_rows_and_leaves_the_identity_in_no_history_log_table_or_audit_row(
) {
    let Some((driver, browser)) = chromium("tests/console/lookup.rs").await else {
        return;
    };
    let env = TestEnv::new(MockConfig::default()).await;
    insert_settled(&env.store, "seen-1", PERSON, 3).await;
    insert_settled(&env.store, "seen-2", PERSON, 1).await;
    insert_settled(&env.store, "someone-else", PERSON + 1, 1).await;
    let console = ConsoleProcess::start(&env).await;
    let (name, id_number, _) = id2meta::mock::population::person(PERSON);
    let who = Pseudonyms::of(&Secret::new(PII_KEY), &name, &id_number);
    let encoded = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let secrets = [
        name.clone(),
        id_number.clone(),
        encoded(&name),
        encoded(&id_number),
    ];
    let mut visited = Vec::new();

    log_in_at(&browser, &console.base, "/lookup").await;
    visited.push(at(&browser).await);

    let form = browser
        .form(Locator::Css("form#lookup"))
        .await
        .expect("the lookup form");
    form.set_by_name("name", &name)
        .await
        .expect("the name typed");
    form.set_by_name("id_number", &id_number)
        .await
        .expect("the ID number typed");
    form.submit().await.expect("submitted");
    let answer = eventually("the answer", WITHIN, || async {
        let source = page_source(&browser).await;
        source.contains("id=\"answer\"").then_some(source)
    })
    .await;
    visited.push(at(&browser).await);
    assert!(
        answer.contains(&who.name_masked) && answer.contains(&who.id_number_masked),
        "{answer}"
    );
    let jobs = browser
        .find_all(Locator::Css("#found tbody tr"))
        .await
        .expect("the rows");
    assert_eq!(jobs.len(), 2, "the person's two rows, not the other's");
    assert!(
        answer.contains("seen-1") && answer.contains("seen-2") && !answer.contains("someone-else")
    );
    screenshot(&browser, "lookup").await;

    // The browser's history: every entry, walked back, and the page's own count.
    let length = browser
        .execute("return window.history.length;", vec![])
        .await
        .expect("the history's length")
        .as_u64()
        .expect("a number");
    assert!(
        length >= visited.len() as u64,
        "{length} entries for {visited:?}"
    );
    for _ in 1..length {
        browser.back().await.expect("back");
        visited.push(at(&browser).await);
    }
    assert!(
        visited
            .iter()
            .all(|url| !url.contains('?') || url.ends_with("?next=/lookup")),
        "{visited:?}"
    );
    // A plain GET shows the empty form: nothing typed, no answer.
    browser
        .goto(&format!("{}/lookup", console.base))
        .await
        .expect("the form again");
    let empty = page_source(&browser).await;
    assert!(
        !empty.contains("id=\"answer\"") && !empty.contains(&who.id_number_masked),
        "{empty}"
    );
    browser
        .find(Locator::Css(
            "form#lookup[method='post'][action='/lookup'][autocomplete='off']",
        ))
        .await
        .expect("a POST form, autocomplete off");
    for field in ["name", "id_number"] {
        let input = browser
            .find(Locator::Css(&format!("form#lookup input[name='{field}']")))
            .await
            .expect("a field");
        assert_eq!(
            input.attr("autocomplete").await.expect("read").as_deref(),
            Some("off")
        );
        assert_eq!(
            input.prop("value").await.expect("read").as_deref(),
            Some("")
        );
    }

    let lookups: Vec<_> = id2meta::audit::read::newest_first(env.store.pool(), None, None, 100)
        .await
        .expect("the audit log")
        .into_iter()
        .filter(|r| r.action == "lookup")
        .collect();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    let row = &lookups[0];
    assert_eq!(row.origin, "console");
    assert!(
        row.actor.starts_with("session ") && row.actor.ends_with(" from 127.0.0.1"),
        "{}",
        row.actor
    );
    assert_eq!(row.detail["rows"], 2);
    assert_eq!(row.detail["name_masked"], who.name_masked.as_str());
    assert_eq!(
        row.detail["id_number_masked"],
        who.id_number_masked.as_str()
    );

    // The console's own audit page shows the lookup, masks only.
    browser
        .goto(&format!("{}/audit?action=lookup", console.base))
        .await
        .expect("the audit page");
    let audit_page = page_source(&browser).await;
    assert!(audit_page.contains(&who.id_number_masked), "{audit_page}");
    screenshot(&browser, "audit").await;

    let log = console.log_text();
    assert!(
        log.contains("a person was looked up from the console"),
        "{log}"
    );
    let tables = every_table_as_text(&env.store).await;
    let history = visited.join("\n");
    for (place, text) in [
        ("history", &history),
        ("log", &log),
        ("tables", &tables),
        ("audit page", &audit_page),
    ] {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "what was typed is in the {place}"
            );
        }
    }

    let _ = browser.close().await;
    drop(driver);
    drop(console);
    env.cleanup().await;
}

#[tokio::test]
async fn a_lookup_needs_the_token_and_the_csrf_field_and_a_get_never_looks_anyone_up() {
    let env = TestEnv::new(MockConfig::default()).await;
    insert_settled(&env.store, "seen-1", PERSON, 1).await;
    let (name, id_number, _) = id2meta::mock::population::person(PERSON);
    let identity = [("name", name.as_str()), ("id_number", id_number.as_str())];
    let lookups = || async {
        id2meta::audit::read::newest_first_of(
            env.store.pool(),
            Some(id2meta::audit::Action::Lookup),
            None,
            None,
            10,
        )
        .await
        .expect("the audit log")
        .len()
    };

    let read_only = Console::start(&env.config, None).await;
    let refused = post_form(&read_only.base, "/lookup", "", &identity).await;
    assert_eq!(refused, StatusCode::FORBIDDEN, "no token configured");
    read_only.stop().await;

    let console = Console::start(&env.config, Some(TOKEN)).await;
    let by_get = client()
        .get(format!(
            "{}/lookup?name={}&id_number={id_number}",
            console.base,
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .expect("an answer")
        .text()
        .await
        .expect("HTML");
    assert!(
        !by_get.contains("id=\"answer\"") && !by_get.contains("seen-1"),
        "{by_get}"
    );
    let (cookie, _) = log_in(&console.base, TOKEN).await;
    let no_csrf = post_form(&console.base, "/lookup", &cookie, &identity).await;
    assert_eq!(no_csrf, StatusCode::FORBIDDEN);
    let csrf = csrf_of(&console.base, &cookie).await;
    let half = [("csrf", csrf.as_str()), ("name", name.as_str())];
    let incomplete = post_form(&console.base, "/lookup", &cookie, &half).await;
    assert_eq!(incomplete, StatusCode::BAD_REQUEST);
    assert_eq!(lookups().await, 0, "nothing refused was looked up");

    let full = [identity[0], identity[1], ("csrf", csrf.as_str())];
    let answered = client()
        .post(format!("{}/lookup", console.base))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &console.base)
        .form(&full)
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        answered.status(),
        StatusCode::OK,
        "answered, not redirected"
    );
    assert_eq!(answered.headers()[CACHE_CONTROL], "no-store");
    assert!(answered.text().await.expect("HTML").contains("seen-1"));
    assert_eq!(lookups().await, 1);
    console.stop().await;
    env.cleanup().await;
}
