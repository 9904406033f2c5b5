//! `GET /dead-letters`, `POST /dead-letters/replay`, `POST /dead-letters/purge`:
//! the dead-letter tools' library ([`DeadLetterQueue`]) behind a page, masks only.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{viewer, Acting, Caller, ConsoleState, PageError};
use crate::console::pages::dead_letters as page;
use crate::queue::dead_letters::{DeadLetterQueue, Report, Selection};

/// Letters the page lists (the oldest first).
const LIST: usize = 200;

pub async fn page(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    render(&state, &caller, None).await
}

pub async fn replay(
    state: State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    acting: Acting,
) -> Result<Response, PageError> {
    act(state, caller, acting, Action::Replay).await
}

pub async fn purge(
    state: State<ConsoleState>,
    Extension(caller): Extension<Caller>,
    acting: Acting,
) -> Result<Response, PageError> {
    act(state, caller, acting, Action::Purge).await
}

#[derive(Clone, Copy, PartialEq)]
enum Action {
    Replay,
    Purge,
}

async fn act(
    State(state): State<ConsoleState>,
    caller: Caller,
    acting: Acting,
    action: Action,
) -> Result<Response, PageError> {
    // A row's own button names one letter (`only`); the bottom buttons the ticked ones.
    let ids: Vec<String> = match acting.field("only") {
        Some(only) => vec![only.to_string()],
        None => acting
            .form
            .iter()
            .filter(|(n, _)| n == "id")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    if ids.is_empty() {
        return render(&state, &caller, Some("Nothing selected.".into())).await;
    }
    let selection = Selection::Ids(ids);
    let report = {
        let mut held = state.dead_letters.lock().await;
        let queue = connected(&state, &mut held).await?;
        let done = match action {
            Action::Replay => queue.replay(&selection).await,
            Action::Purge => queue.purge(&selection).await,
        };
        if done.is_err() {
            *held = None;
        }
        done?
    };
    tracing::info!(
        selected = report.selected,
        done = report.done,
        failed = report.failed.len(),
        replay = (action == Action::Replay),
        session = %acting.session.id(),
        client_addr = %acting.session.client_addr(),
        "dead letters acted on from the console"
    );
    render(&state, &caller, Some(summary(action, &report))).await
}

fn summary(action: Action, report: &Report) -> String {
    let verb = match action {
        Action::Replay => "Replayed",
        Action::Purge => "Purged",
    };
    let mut text = format!("{verb} {} of {} selected.", report.done, report.selected);
    for failure in &report.failed {
        text.push_str(&format!(
            " {}: {}.",
            failure.id.as_deref().unwrap_or("?"),
            failure.error
        ));
    }
    text
}

async fn render(
    state: &ConsoleState,
    caller: &Caller,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let viewer = viewer(state, caller);
    let listed = {
        let mut held = state.dead_letters.lock().await;
        let listed = match connected(state, &mut held).await {
            Ok(queue) => queue.list(LIST).await,
            Err(error) => Err(error),
        };
        if listed.is_err() {
            *held = None;
        }
        listed
    };
    let now = chrono::Utc::now();
    let page = match &listed {
        Ok(letters) => page::render(Ok(letters), notice.as_deref(), &viewer, now),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "listing dead letters failed");
            page::render(
                Err("The dead-letter queue could not be read (is RabbitMQ reachable?)."),
                notice.as_deref(),
                &viewer,
                now,
            )
        }
    };
    Ok(page.into_response())
}

/// The console's one broker connection for dead letters, opened on first use and
/// again after a failure. One at a time: each operation holds the queue's letters.
async fn connected<'q>(
    state: &ConsoleState,
    held: &'q mut Option<DeadLetterQueue>,
) -> anyhow::Result<&'q DeadLetterQueue> {
    if held.is_none() {
        *held = Some(DeadLetterQueue::from_config(&state.config).await?);
    }
    held.as_ref()
        .ok_or_else(|| anyhow::anyhow!("no dead-letter connection"))
}
