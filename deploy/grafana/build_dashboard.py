#!/usr/bin/env python3
"""Writes dashboards/id2meta.json, the Grafana dashboard over the worker's metrics.

Why a generator: a dashboard is a large JSON document whose panels differ in a title, a query
and a unit; writing it from this list keeps every panel's query reviewable in one place.
Run it after changing a panel: `python3 deploy/grafana/build_dashboard.py`.
deploy/validate.py checks that the committed JSON is what this script writes.
"""
import json
import pathlib

DS = {"type": "prometheus", "uid": "${datasource}"}

# (title, unit, [(legend, expr)], width, kind)
PANELS = [
    ("Throughput by status", "ops", [("{{status}}", "sum by (status) (rate(id2meta_jobs_total[1m]))")], 12, "timeseries"),
    ("Budget use (calls/s against ID2META_QPS)", "percentunit",
     [("used", "sum(rate(id2meta_upstream_calls_total[1m])) / $qps")], 12, "timeseries"),
    ("Upstream errors by code", "ops",
     [("{{code}}", 'sum by (code) (rate(id2meta_upstream_calls_total{code!="Success"}[5m]))')], 12, "timeseries"),
    ("Upstream latency p50 / p99", "s",
     [("p50", "histogram_quantile(0.5, sum by (le) (rate(id2meta_upstream_latency_seconds_bucket[5m])))"),
      ("p99", "histogram_quantile(0.99, sum by (le) (rate(id2meta_upstream_latency_seconds_bucket[5m])))")], 12, "timeseries"),
    ("Limiter wait p90 / p99", "s",
     [("p90", "histogram_quantile(0.9, sum by (le) (rate(id2meta_limiter_wait_seconds_bucket[5m])))"),
      ("p99", "histogram_quantile(0.99, sum by (le) (rate(id2meta_limiter_wait_seconds_bucket[5m])))")], 12, "timeseries"),
    ("QPS share by replica", "ops", [("{{instance}}", "id2meta_qps_share")], 12, "timeseries"),
    ("Paused replicas", "short", [("paused", "sum(id2meta_consumer_paused)")], 6, "stat"),
    ("Jobs in flight", "short", [("in flight", "sum(id2meta_jobs_in_flight)")], 6, "stat"),
    ("Dead letters (1h)", "short",
     [("{{reason}}", "sum by (reason) (increase(id2meta_dead_lettered_total[1h]))")], 6, "stat"),
    ("Retries / s", "ops", [("retries", "sum(rate(id2meta_retries_total[5m]))")], 6, "stat"),
]


def panel(index, title, unit, targets, width, kind, x, y):
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"h": 8 if kind == "timeseries" else 5, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (legend, expr) in enumerate(targets)
        ],
    }


def dashboard():
    panels, x, y, row_height = [], 0, 0, 0
    for index, (title, unit, targets, width, kind) in enumerate(PANELS):
        if x + width > 24:
            x, y = 0, y + row_height
        p = panel(index, title, unit, targets, width, kind, x, y)
        panels.append(p)
        row_height = max(row_height if x else 0, p["gridPos"]["h"])
        x += width
    return {
        "uid": "id2meta",
        "title": "id2meta",
        "description": "Throughput, budget use, upstream errors and latency, limiter wait, pauses and dead letters of the id2meta workers.",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "tags": ["id2meta"],
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "current": {}},
            {"name": "qps", "type": "constant", "query": "50", "label": "ID2META_QPS", "hide": 0},
        ]},
        "panels": panels,
    }


def render():
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent / "dashboards" / "id2meta.json"
    out.write_text(render())
    print(f"wrote {out}")
