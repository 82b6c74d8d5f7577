"""Exports a trace, its logs and metrics to Weir with the OpenTelemetry Python SDK's OTLP/HTTP
exporters (protobuf; the log exporter gzip-compressed), as an instrumented service would.

Usage: otel_export.py BASE_URL
Prints one JSON line: {"trace_id": ..., "spans": N, "logs": N, "results": {...}}; exits non-zero
when an exporter reports a failure.
"""

import json
import logging
import sys

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode


class Recording:
    """Wraps an exporter to keep the result of each export."""

    def __init__(self, exporter):
        self.exporter = exporter
        self.results = []

    def export(self, batch, *args, **kwargs):
        result = self.exporter.export(batch, *args, **kwargs)
        self.results.append(result.name)
        return result

    def __getattr__(self, name):
        return getattr(self.exporter, name)


def main(base):
    resource = Resource.create({"service.name": "checkout", "deployment.environment": "test"})

    spans = Recording(OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=10))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)

    logs = Recording(
        OTLPLogExporter(endpoint=f"{base}/v1/logs", compression=Compression.Gzip, timeout=10)
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    set_logger_provider(logger_provider)
    logger = logging.getLogger("checkout")
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
    logger.setLevel(logging.INFO)

    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    metrics.set_meter_provider(meter_provider)
    meter = metrics.get_meter("checkout.meter")
    orders = meter.create_counter("orders", unit="1", description="orders placed")
    latency = meter.create_histogram("checkout.latency", unit="ms")

    tracer = trace.get_tracer("checkout.tracer", "0.1.0")
    with tracer.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/checkout")
        logger.info("checkout started")
        with tracer.start_as_current_span("charge card", kind=trace.SpanKind.CLIENT) as child:
            child.set_attribute("payment.amount", 42.5)
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "card declined"))
            logger.error("card declined")
        trace_id = format(root.get_span_context().trace_id, "032x")
    for amount in [12.0, 80.0, 250.0]:
        orders.add(1, {"region": "eu"})
        latency.record(amount, {"region": "eu"})

    # The SDK's metric exporter is driven here, so that its result is known.
    metric_exporter = Recording(OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=10))
    data = reader.get_metrics_data()
    metric_exporter.export(data)

    tracer_provider.shutdown()
    logger_provider.shutdown()
    results = {"spans": spans.results, "logs": logs.results, "metrics": metric_exporter.results}
    print(json.dumps({"trace_id": trace_id, "results": results}))
    failed = [r for rs in results.values() for r in rs if r != "SUCCESS"]
    return 1 if failed or not all(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
