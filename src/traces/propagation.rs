//! W3C trace context (`traceparent`, `tracestate`) in AMQP message headers: the
//! practice for AMQP 0-9-1, where a producer's context travels in the headers
//! table of the message. No kept lapin propagator exists; these two adapters
//! over lapin's [`FieldTable`] are all OpenTelemetry's propagator needs.

use lapin::types::{AMQPValue, FieldTable, LongString};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// Reads a message's headers for the propagator. A header that is not a string,
/// or not UTF-8, is not there (a producer's malformed header is ignored, never
/// an error: the job is processed without a parent).
struct HeaderExtractor<'a>(&'a FieldTable);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let bytes = match self.0.inner().get(key)? {
            AMQPValue::LongString(value) => value.as_bytes(),
            AMQPValue::ShortString(value) => value.as_str().as_bytes(),
            _ => return None,
        };
        std::str::from_utf8(bytes).ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|key| key.as_str()).collect()
    }
}

/// Writes the propagator's fields as long strings (what pika, amqplib and the
/// Java client send for a text header).
struct HeaderInjector<'a>(&'a mut FieldTable);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert(key.into(), AMQPValue::LongString(LongString::from(value)));
    }
}

/// The producer's context carried by `headers`, or an empty context (then the
/// job's span starts a trace of its own).
pub fn extract(headers: Option<&FieldTable>) -> Context {
    match headers {
        Some(headers) => TraceContextPropagator::new().extract(&HeaderExtractor(headers)),
        None => Context::new(),
    }
}

/// Adds `cx`'s `traceparent` (and `tracestate` if any) to `headers`; adds
/// nothing when `cx` holds no valid span (trace export off).
pub fn inject(cx: &Context, headers: &mut FieldTable) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::ShortString;
    use opentelemetry::trace::TraceContextExt;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_producers_traceparent_is_read_from_a_long_or_short_string_header() {
        for value in [
            AMQPValue::LongString(LongString::from(PARENT)),
            AMQPValue::ShortString(ShortString::from(PARENT)),
        ] {
            let mut headers = FieldTable::default();
            headers.insert("traceparent".into(), value);
            let cx = extract(Some(&headers));
            let span = cx.span().span_context().clone();
            assert!(span.is_valid() && span.is_remote() && span.is_sampled());
            assert_eq!(
                span.trace_id().to_string(),
                "4bf92f3577b34da6a3ce929d0e0e4736"
            );
            assert_eq!(span.span_id().to_string(), "00f067aa0ba902b7");
        }
    }

    #[test]
    fn no_header_a_malformed_one_or_a_number_gives_no_parent() {
        assert!(!extract(None).span().span_context().is_valid());
        for value in [
            AMQPValue::LongString(LongString::from("00-not-a-trace-01")),
            AMQPValue::LongInt(7),
        ] {
            let mut headers = FieldTable::default();
            headers.insert("traceparent".into(), value);
            assert!(!extract(Some(&headers)).span().span_context().is_valid());
        }
    }

    #[test]
    fn what_is_injected_reads_back_and_nothing_is_injected_without_a_span() {
        let mut headers = FieldTable::default();
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString(LongString::from(PARENT)),
        );
        let cx = extract(Some(&headers));
        let mut out = FieldTable::default();
        inject(&cx, &mut out);
        assert_eq!(
            out.inner().get("traceparent"),
            Some(&AMQPValue::LongString(LongString::from(PARENT)))
        );
        let mut none = FieldTable::default();
        inject(&Context::new(), &mut none);
        assert!(none.inner().is_empty());
    }
}
