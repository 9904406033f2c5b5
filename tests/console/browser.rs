//! The browser and what the console tests share: chromedriver and headless
//! Chromium (found, started, killed on drop), screenshots, and the steps of a
//! page (arrive, click, read).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::helpers::eventually;

/// How long a page may take to show what a test waits for.
pub const WITHIN: Duration = Duration::from_secs(90);
/// The console's operator token in these tests.
pub const TOKEN: &str = "console-test-token-0123456789abcdef";

/// A chromedriver child process, killed when dropped (also when the test fails).
pub struct Driver {
    pub child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn browser_installed() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    };
    Some((find("chromium")?, find("chromedriver")?))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub async fn start_driver(chromedriver: &Path) -> Driver {
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
    wait_listening("chromedriver", port).await;
    driver
}

/// Waits until something (`what`) accepts connections on the loopback `port`.
pub async fn wait_listening(what: &str, port: u16) {
    eventually(&format!("{what} listens"), WITHIN, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

/// Logs in through the form at `base` with the test's token and waits for `next`.
pub async fn log_in_at(browser: &Client, base: &str, next: &str) {
    browser
        .goto(&format!("{base}/login?next={next}"))
        .await
        .expect("the login form");
    let form = browser
        .form(Locator::Css("form[action='/login']"))
        .await
        .expect("the form");
    form.set_by_name("token", TOKEN).await.expect("typed");
    form.submit().await.expect("logged in");
    arrive_at(browser, next).await;
}

pub async fn open_browser(driver: &Driver, chromium: &Path) -> Client {
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium.to_string_lossy(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object")
    };
    // chromedriver listens on loopback, plain HTTP: no TLS in the test's client.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Saves what the browser shows as `docs/console/<name>.png`.
pub async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).expect("docs/console");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
}

/// The settled count the batch page shows (`#progress b`), read afresh.
pub async fn settled_on_page(browser: &Client, url: &str) -> u64 {
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

pub async fn click(browser: &Client, button: Locator<'_>) {
    let found = browser.find(button).await.expect("the button");
    found.click().await.expect("clicked");
}

/// Waits until the browser shows `path` (a submitted form's answer loads after
/// the submit returns).
pub async fn arrive_at(browser: &Client, path: &str) {
    eventually(&format!("the browser at {path}"), WITHIN, || async {
        let url = browser.current_url().await.expect("a URL");
        (url.path() == path).then_some(())
    })
    .await;
}

pub async fn page_source(browser: &Client) -> String {
    browser.source().await.expect("the page source")
}

/// The driver and a browser session, or `None` (the test skipped, loudly) where
/// Chromium is not installed; under `CI` a missing browser fails instead.
pub async fn chromium(test: &str) -> Option<(Driver, Client)> {
    let Some((chromium, chromedriver)) = browser_installed() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver are missing under CI: scripts/browser.sh installs them"
        );
        eprintln!("\n!!!! SKIPPED {test}: chromium or chromedriver is not installed (scripts/browser.sh installs them)\n");
        return None;
    };
    let driver = start_driver(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;
    Some((driver, browser))
}
