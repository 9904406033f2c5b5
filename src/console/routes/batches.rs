//! `GET /batches`, `GET /batches/{batch_id}` (+ `/export.csv`), `POST /batches/{batch_id}/cancel`.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::Markup;

use super::{no_such, plausible_id, see_other, viewer, Acting, Caller, ConsoleState, PageError};
use crate::console::pages::batches::{self as page, batch_href, BatchView};
use crate::console::reads::batches::{self as reads, cursor_after, Cursor, PAGE};
use crate::csv_writer::CsvWriter;
use crate::progress::BatchProgress;

/// Rows per query of the CSV export: each page is its own short statement.
const EXPORT_PAGE: i64 = 1_000;

pub async fn list(
    State(state): State<ConsoleState>,
    Query(query): Query<HashMap<String, String>>,
    Extension(caller): Extension<Caller>,
) -> Result<Markup, PageError> {
    let after = query.get("after").map_or("", String::as_str);
    let lines = reads::list(state.store.db(), after).await?;
    let next = (lines.len() as i64 == PAGE)
        .then(|| lines.last().map(|l| l.batch_id.as_str()))
        .flatten();
    Ok(page::list(
        &lines,
        next,
        &viewer(&state, &caller),
        chrono::Utc::now(),
    ))
}

pub async fn detail(
    State(state): State<ConsoleState>,
    Path(batch_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    if !plausible_id(&batch_id) {
        return Ok(no_such("batch", &state, &caller));
    }
    let cursor = match (query.get("after_at"), query.get("after_id")) {
        (Some(at), Some(id)) => chrono::DateTime::parse_from_rfc3339(at)
            .ok()
            .map(|at| Cursor {
                completed_at: at.with_timezone(&chrono::Utc),
                job_id: id.clone(),
            }),
        _ => None,
    };
    let counts = state.store.batch_counts(&batch_id).await?;
    let cancelled_at = state.store.batch_cancelled_at(&batch_id).await?;
    let rows = reads::rows(state.store.db(), &batch_id, cursor.as_ref(), PAGE).await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(cursor_after))
        .flatten();
    let progress = BatchProgress::from_counts(&counts);
    let notice = query.get("notice").map(|n| match n.as_str() {
        "cancelled" => "Batch cancelled: every replica stops calling for it within a second.",
        _ => "",
    });
    let view = BatchView {
        batch_id: &batch_id,
        progress: &progress,
        started: counts.first_received,
        last_completed: counts.last_completed,
        cancelled_at,
        rows: &rows,
        next,
        notice: notice.filter(|n| !n.is_empty()),
    };
    Ok(page::detail(&view, &viewer(&state, &caller)).into_response())
}

/// The batch's rows as CSV (masks only, every cell formula-safe), streamed page
/// by page: memory stays flat however large the batch, and no statement holds a
/// snapshot open for long. The first page is read before the answer starts, so a
/// failure there is a status (503, logged), not a dropped connection.
pub async fn export(
    State(state): State<ConsoleState>,
    Path(batch_id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    if !plausible_id(&batch_id) {
        return Ok(no_such("batch", &state, &caller));
    }
    let first = reads::rows(state.store.db(), &batch_id, None, EXPORT_PAGE).await?;
    let header_line = Bytes::from_static(
        b"job_id,batch_id,status,biz_code,upstream_code,attempts,name_masked,id_number_masked,received_at,completed_at\n",
    );
    let filename = format!("attachment; filename=\"batch-{}.csv\"", sanitize(&batch_id));
    let after_first = next_cursor(&first);
    let first = futures_util::stream::iter([Ok(header_line), csv_lines(&first)]);
    let rest = futures_util::stream::unfold(after_first, move |next| {
        let (state, batch_id) = (state.clone(), batch_id.clone());
        async move {
            let cursor = next?;
            match reads::rows(state.store.db(), &batch_id, Some(&cursor), EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => Some((csv_lines(&rows), next_cursor(&rows))),
                Err(error) => {
                    // The answer has started: end it short, and say so in the log.
                    tracing::warn!(error = %format!("{error:#}"), "a CSV export stopped early");
                    Some((Err(std::io::Error::other("export stopped")), None))
                }
            }
        }
    });
    let body = futures_util::StreamExt::chain(first, rest);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Where the next page starts, if this one was full.
fn next_cursor(rows: &[reads::MaskedRow]) -> Option<Cursor> {
    (rows.len() as i64 == EXPORT_PAGE)
        .then(|| rows.last().map(cursor_after))
        .flatten()
}

/// Characters safe in a download's file name.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(64)
        .collect()
}

fn csv_lines(rows: &[reads::MaskedRow]) -> Result<Bytes, std::io::Error> {
    let mut writer = CsvWriter::new(Vec::new());
    for r in rows {
        writer
            .write_record([
                r.job_id.as_str(),
                r.batch_id.as_deref().unwrap_or(""),
                r.status.as_str(),
                r.biz_code.as_deref().unwrap_or(""),
                r.upstream_code.as_deref().unwrap_or(""),
                &r.attempts.to_string(),
                r.name_masked.as_deref().unwrap_or(""),
                r.id_number_masked.as_deref().unwrap_or(""),
                &r.received_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                &r.completed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ])
            .map_err(std::io::Error::other)?;
    }
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

pub async fn cancel(
    State(state): State<ConsoleState>,
    Path(batch_id): Path<String>,
    acting: Acting,
) -> Result<Response, PageError> {
    if !plausible_id(&batch_id) {
        return Ok(no_such("batch", &state, &Caller::from(&acting.session)));
    }
    state.store.cancel_batch(&batch_id, "console").await?;
    tracing::info!(%batch_id, session = %acting.session.id(), client_addr = %acting.session.client_addr(), "batch cancelled from the console");
    Ok(see_other(&format!(
        "{}?notice=cancelled",
        batch_href(&batch_id)
    )))
}
