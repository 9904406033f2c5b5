//! `GET /audit?action=…&since=…&before=…`: the audit log, a page at a time.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{viewer, Caller, ConsoleState, PageError};
use crate::audit::{read, Action, AUDIT_PAGE};
use crate::console::pages::{self, audit::AuditFilter};

pub async fn page(
    State(state): State<ConsoleState>,
    Query(query): Query<HashMap<String, String>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    let typed = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let action = match typed("action").map(|word| Action::parse(word).ok_or(word)) {
        None => None,
        Some(Ok(action)) => Some(action),
        Some(Err(_)) => {
            return Ok(bad(
                &state,
                &caller,
                "No such action: pick one from the list.",
            ))
        }
    };
    let since = match typed("since").map(crate::duration::parse) {
        None => None,
        Some(Ok(age)) => match chrono::Duration::from_std(age) {
            Ok(age) => Some(chrono::Utc::now() - age),
            Err(_) => return Ok(bad(&state, &caller, "That duration is too long.")),
        },
        Some(Err(_)) => {
            return Ok(bad(
                &state,
                &caller,
                "Since takes a duration: 45s, 90m, 12h, 30d.",
            ))
        }
    };
    let before = match typed("before").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Ok(bad(
                &state,
                &caller,
                "A page starts before a row id (a number).",
            ))
        }
    };
    let rows = read::newest_first_of(state.store.db(), action, since, before, AUDIT_PAGE).await?;
    let older = (rows.len() as i64 == AUDIT_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let filter = AuditFilter {
        action,
        since: typed("since").map(str::to_owned),
    };
    Ok(pages::audit::render(&rows, &filter, older, &viewer(&state, &caller)).into_response())
}

/// A filter that cannot be read: 400, and the page says which.
fn bad(state: &ConsoleState, caller: &Caller, message: &str) -> Response {
    let page = pages::problem("Audit log", &viewer(state, caller), message);
    (StatusCode::BAD_REQUEST, page).into_response()
}
