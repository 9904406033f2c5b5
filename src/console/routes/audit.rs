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
    let asked = match Asked::read(&query) {
        Ok(asked) => asked,
        Err(why) => return Ok(bad(&state, &caller, why)),
    };
    let rows = read::newest_first_of(
        state.store.db(),
        asked.filter.action,
        asked.since,
        asked.before,
        AUDIT_PAGE,
    )
    .await?;
    let older = (rows.len() as i64 == AUDIT_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let page = pages::audit::render(&rows, &asked.filter, older, &viewer(&state, &caller));
    Ok(page.into_response())
}

/// The query string, read: the filter as shown, the moment `since` names, the keyset.
struct Asked {
    filter: AuditFilter,
    since: Option<chrono::DateTime<chrono::Utc>>,
    before: Option<i64>,
}

impl Asked {
    /// The filters, or what the page should say about the one that cannot be read.
    fn read(query: &HashMap<String, String>) -> Result<Self, &'static str> {
        let typed = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let action = typed("action")
            .map(|word| Action::parse(word).ok_or("No such action: pick one from the list."))
            .transpose()?;
        let since = typed("since")
            .map(|age| {
                let age = crate::duration::parse(age)
                    .map_err(|_| "Since takes a duration: 45s, 90m, 12h, 30d.")?;
                let age =
                    chrono::Duration::from_std(age).map_err(|_| "That duration is too long.")?;
                Ok::<_, &str>(chrono::Utc::now() - age)
            })
            .transpose()?;
        let before = typed("before")
            .map(|id| {
                id.parse::<i64>()
                    .map_err(|_| "A page starts before a row id (a number).")
            })
            .transpose()?;
        Ok(Self {
            filter: AuditFilter {
                action,
                since: typed("since").map(str::to_owned),
            },
            since,
            before,
        })
    }
}

/// A filter that cannot be read: 400, and the page says which.
fn bad(state: &ConsoleState, caller: &Caller, message: &str) -> Response {
    let page = pages::problem("Audit log", &viewer(state, caller), message);
    (StatusCode::BAD_REQUEST, page).into_response()
}
