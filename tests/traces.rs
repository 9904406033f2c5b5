//! Trace export (contract, "Trace context"), end to end: a job published with a
//! producer's `traceparent` is traced through its upstream call to its
//! completion, exported over OTLP/HTTP to a collector this test stands in for,
//! and no exported byte names the person. Its own binary: the subscriber is global.

#[path = "worker/helpers.rs"]
mod helpers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use helpers::{eventually, person_job, TestEnv};
use id2meta::mock::MockConfig;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

const WITHIN: Duration = Duration::from_secs(60);
/// The producer's span, as a pipeline that traces its sign-ups would send it.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PRODUCER_SPAN: &str = "00f067aa0ba902b7";

/// A stand-in collector: the body of every OTLP/HTTP trace export it receives.
async fn collector() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().expect("not poisoned").push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

fn text(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        })
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let named: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(named.len(), 1, "one span named {name:?} in {spans:#?}");
    named[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_trace_runs_from_its_producer_through_the_call_to_its_completion() {
    let (endpoint, received) = collector().await;
    // What an operator sets, before logging (and so the export) starts.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    std::env::set_var("OTEL_SERVICE_NAME", "id2meta-traces-test");
    id2meta::telemetry::init(id2meta::telemetry::LogFormat::Json, "info");

    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let job = person_job("traced", 1);
    let name = job["name"].as_str().expect("a name").to_string();
    let id_number = job["id_number"].as_str().expect("a number").to_string();
    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        AMQPValue::LongString(LongString::from(format!(
            "00-{TRACE_ID}-{PRODUCER_SPAN}-01"
        ))),
    );
    let properties = BasicProperties::default()
        .with_message_id("traced".into())
        .with_delivery_mode(2)
        .with_headers(headers);
    let body = serde_json::to_vec(&job).expect("json");
    env.publisher
        .publish_to_queue(&env.config.jobs_queue, &body, properties)
        .await
        .expect("published");
    env.wait_for_rows(1, WITHIN).await;

    // The completion, with its headers.
    let channel = env.publisher.channel();
    let results = env.config.results_queue();
    let completion = eventually("the completion", WITHIN, || async {
        channel
            .basic_get(results.as_str().into(), BasicGetOptions::default())
            .await
            .expect("basic_get")
    })
    .await;
    completion
        .delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .expect("ack");
    let traceparent = completion
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| match h.inner().get("traceparent") {
            Some(AMQPValue::LongString(s)) => {
                Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
            }
            _ => None,
        })
        .expect("the completion carries a traceparent");
    worker.stop().await;
    // Flushes the batch (a blocking call: off the runtime's threads).
    tokio::task::spawn_blocking(id2meta::traces::shutdown)
        .await
        .expect("flushed");

    let exports: Vec<Bytes> = eventually("an export", WITHIN, || async {
        let got = received.lock().expect("not poisoned").clone();
        (!got.is_empty()).then_some(got)
    })
    .await;
    // Not one exported byte names the person, whatever attribute or event.
    for export in &exports {
        for secret in [name.as_bytes(), id_number.as_bytes()] {
            assert!(
                !export.windows(secret.len()).any(|w| w == secret),
                "an export holds a name or an ID number"
            );
        }
    }
    let spans: Vec<Span> = exports
        .iter()
        .flat_map(|body| {
            ExportTraceServiceRequest::decode(body.as_ref())
                .expect("OTLP protobuf")
                .resource_spans
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();

    let queue = &env.config.jobs_queue;
    let job_span = one(&spans, &format!("process {queue}"));
    let call = one(&spans, "Id2MetaVerifyIntl");
    let publish = one(&spans, &format!("publish {}", env.config.results_exchange));
    // Only the contract's three spans leave the process: no dependency's.
    assert_eq!(spans.len(), 3, "{spans:#?}");

    // producer -> job -> upstream call, and job -> completion, one trace.
    for span in [job_span, call, publish] {
        assert_eq!(hex::encode(&span.trace_id), TRACE_ID);
    }
    assert_eq!(hex::encode(&job_span.parent_span_id), PRODUCER_SPAN);
    assert_eq!(call.parent_span_id, job_span.span_id);
    assert_eq!(publish.parent_span_id, job_span.span_id);
    assert_eq!(job_span.kind, SpanKind::Consumer as i32);
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert_eq!(publish.kind, SpanKind::Producer as i32);
    // The completion names the job's span.
    assert_eq!(
        traceparent,
        format!("00-{TRACE_ID}-{}-01", hex::encode(&job_span.span_id))
    );

    // The messaging conventions, and the job_id.
    assert_eq!(
        text(job_span, "messaging.system").as_deref(),
        Some("rabbitmq")
    );
    assert_eq!(
        text(job_span, "messaging.destination.name").as_deref(),
        Some(queue.as_str())
    );
    assert_eq!(
        text(job_span, "messaging.message.id").as_deref(),
        Some("traced")
    );
    assert_eq!(text(job_span, "id2meta.job_id").as_deref(), Some("traced"));
    assert_eq!(
        text(call, "id2meta.upstream_code").as_deref(),
        Some("Success")
    );
    assert!(text(call, "id2meta.request_id").is_some());
    assert_eq!(
        text(publish, "messaging.system").as_deref(),
        Some("rabbitmq")
    );
    assert_eq!(
        text(publish, "messaging.destination.name").as_deref(),
        Some(env.config.results_exchange.as_str())
    );
    assert_eq!(
        text(publish, "messaging.message.id").as_deref(),
        Some("traced")
    );
    env.cleanup().await;
}
