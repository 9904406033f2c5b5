//! The three spans the contract names ("Trace context"), with OpenTelemetry's
//! messaging conventions: one per job (`process <queue>`, consumer), one per
//! upstream call (`Id2MetaVerifyIntl`, client) and one per completion
//! (`publish <exchange>`, producer). Their target is [`super::TARGET`], the only
//! one exported, and no other layer sees them: with export off they are
//! disabled at their call site, so they cost a relaxed load each.
//!
//! Attributes name queues, exchanges, routing keys, the job_id, the upstream's
//! `RequestId` and `Code`: never a name or an ID number, and never the request's
//! URL (its query holds both).

use lapin::message::Delivery;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::propagation;
use crate::upstream::Outcome;

/// The span of one job, a child of the producer's context when its headers
/// carry one. `job_id` is recorded once the body is parsed ([`record_job_id`]).
pub fn job(queue: &str, delivery: &Delivery) -> Span {
    let span = tracing::info_span!(
        target: "id2meta::traces",
        "process",
        otel.name = %format_args!("process {queue}"),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = queue,
        messaging.rabbitmq.destination.routing_key = delivery.routing_key.as_str(),
        messaging.rabbitmq.message.delivery_tag = delivery.delivery_tag,
        messaging.message.id = delivery.properties.message_id().as_ref().map(|id| id.as_str()),
        messaging.message.body.size = delivery.data.len(),
        id2meta.job_id = Empty,
        id2meta.redelivered = delivery.redelivered,
    );
    if !span.is_disabled() {
        let parent = propagation::extract(delivery.properties.headers().as_ref());
        // Fails only if the span already started, which it cannot have yet.
        let _ = span.set_parent(parent);
    }
    span
}

tokio::task_local! {
    /// The trace span of the job the current task runs ([`in_job`]).
    static JOB: Span;
}

/// Runs `job` with `span` as its job's trace span, for [`record_job_id`].
pub async fn in_job<F: std::future::Future>(span: Span, job: F) -> F::Output {
    JOB.scope(span, job).await
}

/// Records the parsed job_id on the job's trace span (a no-op with export off,
/// or outside a job's task).
pub fn record_job_id(job_id: &str) {
    let _ = JOB.try_with(|span| {
        span.record("id2meta.job_id", job_id);
    });
}

/// The span of one upstream call (`attempt` counts from 1); its outcome is
/// recorded by [`record_call`].
pub fn upstream_call(host: &str, attempt: i32) -> Span {
    tracing::info_span!(
        target: "id2meta::traces",
        "Id2MetaVerifyIntl",
        otel.kind = "client",
        otel.status_code = Empty,
        rpc.system = "alibaba_cloud",
        rpc.service = "cloudauth-intl",
        rpc.method = "Id2MetaVerifyIntl",
        server.address = host,
        id2meta.attempt = attempt,
        id2meta.upstream_code = Empty,
        id2meta.request_id = Empty,
    )
}

/// What the upstream answered: its `Code`, its `RequestId` when it gave one,
/// and an error status for anything but a verdict.
pub fn record_call(span: &Span, outcome: &Outcome) {
    span.record("id2meta.upstream_code", outcome.code());
    let (request_id, verdict) = match outcome {
        Outcome::Verdict { request_id, .. } => (Some(request_id.as_str()), true),
        Outcome::Failure(failure) => (failure.request_id.as_deref(), false),
    };
    if let Some(id) = request_id {
        span.record("id2meta.request_id", id);
    }
    span.record("otel.status_code", if verdict { "ok" } else { "error" });
}

/// The span of one completion's publish (with its confirm).
pub fn publish(exchange: &str, routing_key: &str, job_id: &str) -> Span {
    tracing::info_span!(
        target: "id2meta::traces",
        "publish",
        otel.name = %format_args!("publish {exchange}"),
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = exchange,
        messaging.rabbitmq.destination.routing_key = routing_key,
        messaging.message.id = job_id,
        id2meta.job_id = job_id,
    )
}

/// The `traceparent` (and `tracestate`) of `span` for a message's headers:
/// what the completion carries so a reader can follow the job's trace. Empty
/// with export off.
pub fn headers_of(span: &Span) -> lapin::types::FieldTable {
    let mut headers = lapin::types::FieldTable::default();
    if !span.is_disabled() {
        propagation::inject(&span.context(), &mut headers);
    }
    headers
}
