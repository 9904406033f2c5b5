//! The console in a real browser: headless Chromium, driven over WebDriver by
//! chromedriver, watches a batch progress, finds a job, sees a dead letter with
//! masks only, is refused a replay before logging in and replays it after. Each
//! page is saved as a screenshot under `docs/console/` (the README shows them).
//!
//! Without Chromium the test is skipped loudly, unless `CI` is set: there
//! `scripts/browser.sh` installs it, and the test must run.

mod audit;
mod browser;
mod fleet;
#[path = "../worker/helpers.rs"]
mod helpers;
mod hostile;
mod live;
mod lookup;
#[path = "../lifecycle/rows.rs"]
#[allow(dead_code)] // the lifecycle tests' rows; the console's tests use a part
mod rows;
mod security;
mod walkthrough;
