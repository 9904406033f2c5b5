//! `GET /`: the fleet, the budget in use, the backlog, the upstream codes.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::spend::Pricing;

use super::{ago, layout, short_id, when, Viewer};
use crate::console::reads::backlog::QueueDepth;
use crate::console::reads::fleet::{
    qps_disagreement, Replica, CODES_WINDOW_MINUTES, RATE_WINDOW_SECONDS,
};
use crate::console::reads::queues::QueueLine;

/// What the overview shows.
pub struct Overview {
    pub replicas: Vec<Replica>,
    pub qps: f64,
    pub calls_per_second: f64,
    pub depths: Vec<QueueDepth>,
    /// Weight, share, cap and recent rate of each queue, by name.
    pub queues: Vec<QueueLine>,
    pub codes: Vec<(String, i64)>,
    /// Billed calls today and this month (UTC).
    pub billed: (i64, i64),
    pub pricing: Pricing,
    pub now: DateTime<Utc>,
}

pub fn render(o: &Overview, viewer: &Viewer) -> Markup {
    let disagreement = qps_disagreement(&o.replicas);
    // The fleet keeps to the smallest ID2META_QPS in force.
    let qps = disagreement.first().copied().unwrap_or(o.qps);
    let active = o
        .replicas
        .iter()
        .filter(|r| r.active_since.is_some())
        .count();
    let even = if o.replicas.is_empty() {
        0.0
    } else {
        qps / o.replicas.len() as f64
    };
    let used = if qps > 0.0 {
        o.calls_per_second / qps * 100.0
    } else {
        0.0
    };
    let ready: u64 = o.depths.iter().filter_map(|d| d.ready).map(u64::from).sum();
    let content = html! {
        div.tiles {
            div.tile { span.muted { "Live replicas" } b #replicas { (o.replicas.len()) } span.muted { (active) " calling" } }
            div.tile {
                span.muted { "Budget in use" }
                b #budget { (format!("{:.1}", o.calls_per_second)) " / " (qps) }
                span.muted { (format!("{used:.0}% of ID2META_QPS, last {RATE_WINDOW_SECONDS} s")) }
            }
            div.tile { span.muted { "Jobs waiting" } b #backlog { (ready) } span.muted { "ready in the job queues" } }
            div.tile {
                span.muted { "Spend today" }
                b #spend-today { (o.pricing.spend(o.billed.0)) }
                span.muted { (o.billed.0) " billed calls (UTC day)" }
            }
            div.tile {
                span.muted { "Spend this month" }
                b #spend-month { (o.pricing.spend(o.billed.1)) }
                span.muted { (o.billed.1) " billed calls; no record is free" }
            }
        }
        section {
            h2 { "Fleet" }
            @if !disagreement.is_empty() {
                p.bad #qps-disagreement {
                    "The replicas disagree on ID2META_QPS ("
                    (disagreement.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(", "))
                    "): together they keep to the smallest, " (qps) ". Start them all with the same value."
                }
            }
            @if o.replicas.is_empty() {
                p.muted { "No live replica: no worker has sent a heartbeat in the last seconds." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "replica" } th { "state" } th.num { "QPS share" } th { "joined" } th.num { "heartbeat" } } }
                    tbody {
                        @for r in &o.replicas {
                            tr {
                                td { code { (short_id(r.replica_id)) } }
                                td.readiness {
                                    @let readiness = r.readiness();
                                    @if readiness == "ready" {
                                        span.ok title=(r.active_since.map(|s| format!("calling since {}", when(s))).unwrap_or_default()) { (readiness) }
                                    } @else if readiness.starts_with("paused") {
                                        span.bad { (readiness) }
                                    } @else {
                                        span.muted { (readiness) }
                                    }
                                }
                                td.num { (r.target.map_or_else(|| format!("{even:.1}"), |t| t.to_string())) }
                                td { (ago(r.joined_at, o.now)) " ago" }
                                td.num { (r.heartbeat_age_ms) " ms ago" }
                            }
                        }
                    }
                } }
                p.muted { "A paused replica (account refused, environment error, no credentials) stops calling; "
                    "its cause is shown here as on its own " code { "/readyz" } ". The share is in calls per second "
                    "(per period under one a second); no share is under 15 calls, so a replica beyond them is on standby: it holds none and takes no jobs." }
            }
        }
        section {
            h2 { "Backlog" }
            div.scroll { table {
                thead { tr {
                    th { "queue" } th.num { "ready" } th.num { "unacked" } th.num { "consumers" }
                    th.num { "weight" } th.num { "share" } th.num { "cap /s" } th.num { "calls/s" } th { "" }
                } }
                tbody #queues {
                    @for d in &o.depths {
                        @let line = o.queues.iter().find(|l| l.queue == d.queue);
                        tr {
                            td { code { (d.queue) } }
                            td.num { (opt(d.ready)) }
                            td.num { (opt(d.unacked)) }
                            td.num { (opt(d.consumers)) }
                            td.num { (opt(line.and_then(|l| l.weight))) }
                            td.num { (line.map_or_else(|| "–".to_string(), weighted_share)) }
                            td.num { (opt(line.and_then(|l| l.cap))) }
                            td.num { (opt(line.map(|l| format!("{:.1}", l.rate)))) }
                            td.muted { (d.note.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
            p.muted { "Share: the fraction of the budget a bulk queue gets while every bulk queue has jobs "
                "waiting (by " code { "ID2META_QUEUE_WEIGHTS" } "); a queue with nothing waiting leaves its share "
                "to the others, and the interactive lane comes before all of them. Calls/s: calls that settled "
                "a job, last " (RATE_WINDOW_SECONDS) " s." }
            @if o.depths.iter().all(|d| d.unacked.is_none()) {
                p.muted { "Unacknowledged counts need the management API: set " code { "ID2META_MANAGEMENT_URL" } "." }
            }
        }
        section {
            h2 { "Upstream codes, last " (CODES_WINDOW_MINUTES) " minutes" }
            @if o.codes.is_empty() {
                p.muted { "Nothing settled in this window." }
            } @else {
                table #codes {
                    thead { tr { th { "code" } th.num { "jobs" } } }
                    tbody { @for (code, n) in &o.codes { tr { td { code { (code) } } td.num { (n) } } } }
                }
            }
        }
        p.muted { "Updated " (when(o.now)) "; this page updates itself every 5 s." }
    };
    layout("Fleet", Some(5), viewer, content)
}

/// A bulk queue's share as a percentage; the interactive lane goes first.
fn weighted_share(line: &QueueLine) -> String {
    line.share
        .map_or_else(|| "first".to_string(), |s| format!("{:.0}%", s * 100.0))
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_string(), |v| v.to_string())
}
