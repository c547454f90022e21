//! W3C trace context in NATS headers, so spans join up across gateway → actors → runner.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderInjector<'a>(&'a mut HeaderMap);
impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);
impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Headers carrying the current span's context.
pub(crate) fn current_context_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(&mut headers)));
    headers
}

/// Makes `span` a child of the context carried in `headers`, if any.
pub(crate) fn adopt_parent(span: &tracing::Span, headers: Option<&HeaderMap>) {
    if let Some(h) = headers {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(h)));
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn trace_context_crosses_headers() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            let sender = tracing::info_span!("gateway");
            let headers = sender.in_scope(current_context_headers);
            let tp = headers.get("traceparent").expect("traceparent header").as_str().to_string();
            let sent_trace = sender.context().span().span_context().trace_id();
            assert!(tp.contains(&sent_trace.to_string()), "{tp}");
            let receiver = tracing::info_span!("runner");
            adopt_parent(&receiver, Some(&headers));
            assert_eq!(receiver.context().span().span_context().trace_id(), sent_trace);
        });
    }
}
