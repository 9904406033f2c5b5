//! `GET /`.

use axum::extract::State;
use axum::Extension;
use maud::Markup;

use super::{viewer, Caller, ConsoleState, PageError};
use crate::budget::BudgetSettings;
use crate::console::pages::overview::{self, Overview};
use crate::console::reads::{backlog, fleet, queues};

pub async fn page(
    State(state): State<ConsoleState>,
    Extension(caller): Extension<Caller>,
) -> Result<Markup, PageError> {
    let pool = state.store.db();
    let ttl_ms = i64::try_from(BudgetSettings::default().ttl().as_millis()).unwrap_or(2_000);
    // The interactive lane, then every bulk queue (`ID2META_QUEUE_WEIGHTS`).
    let names: Vec<String> = std::iter::once(state.config.interactive_queue())
        .chain(state.config.bulk_queues().into_iter().map(|w| w.queue))
        .collect();
    let now = chrono::Utc::now();
    let (day, month) = crate::store::day_and_month_start(now);
    let (replicas, calls_per_second, codes, depths, queue_lines, billed_today, billed_month) = tokio::join!(
        fleet::live_replicas(pool, ttl_ms),
        fleet::calls_per_second(pool),
        fleet::recent_codes(pool),
        backlog::depths(
            &state.broker,
            &state.config.amqp_url,
            state.management_url.as_deref(),
            &names
        ),
        queues::lines(pool, &state.config),
        state.store.billed_calls(day, now),
        state.store.billed_calls(month, now),
    );
    let view = Overview {
        replicas: replicas?,
        qps: state.config.qps,
        calls_per_second: calls_per_second?,
        depths,
        queues: queue_lines?,
        codes: codes?,
        billed: (billed_today?, billed_month?),
        pricing: state.config.pricing.clone(),
        now,
    };
    Ok(overview::render(&view, &viewer(&state, &caller)))
}
