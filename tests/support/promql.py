"""What the alert rules and the Grafana dashboard ask Prometheus for, and what the services export.

`selectors(expr)` reads the metric names and label names out of a PromQL expression (a tokenizer,
not a full parser: enough for the expressions in deploy/). `exported_metrics()` lists what the
service packages register with prometheus_client, and `families_in_exposition(text)` what a
running service serves on /metrics.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARDS_DIR = ROOT / "deploy" / "grafana" / "dashboards"

SERVICE_PACKAGES = ("ingest_calls", "ingest_mail", "classifier", "crm_store")
# Series Prometheus makes itself; they carry whatever labels the rules and targets gave them.
BUILTIN = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"})
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}

KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right"}
)
AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"}
    | {"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"}
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>\d[\w.]*)
  | (?P<ident>[A-Za-z_:][\w:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}\[\]@])
    """,
    re.VERBOSE,
)


@dataclass
class Selector:
    metric: str | None
    labels: dict[str, str] = field(default_factory=dict)  # label -> value (regexes as written)


@dataclass
class Query:
    selectors: list[Selector]
    grouping: set[str]  # labels in by/without/on/ignoring/group_*
    made_labels: set[str]  # labels label_replace() creates


def _tokens(expr: str) -> list[tuple[str, str]]:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        match = TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[pos : pos + 20]!r} in {expr!r}")
        pos = match.end()
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            out.append((kind, match.group()))
    return out


def _unquote(literal: str) -> str:
    return str(json.loads(literal)) if literal.startswith('"') else literal[1:-1]


def parse(expr: str) -> Query:
    tokens = _tokens(expr)
    query = Query([], set(), set())
    i = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        j = i + offset
        return tokens[j] if j < len(tokens) else ("end", "")

    def read_matchers(selector: Selector) -> None:
        nonlocal i
        assert peek() == ("op", "{")
        i += 1
        while peek() != ("op", "}"):
            kind, label = peek()
            if kind == "op" and label == ",":
                i += 1
                continue
            op_kind, _ = peek(1)
            value_kind, value = peek(2)
            if kind != "ident" or op_kind != "op" or value_kind != "string":
                raise ValueError(f"bad label matcher near {label!r} in {expr!r}")
            selector.labels[label] = _unquote(value)
            i += 3
        i += 1

    while i < len(tokens):
        kind, text = peek()
        if kind == "ident" and text in GROUPING:
            i += 1
            if peek() == ("op", "("):
                i += 1
                while peek() != ("op", ")"):
                    if peek()[0] == "ident":
                        query.grouping.add(peek()[1])
                    i += 1
                i += 1
            continue
        if kind == "ident" and text == "label_replace" and peek(1) == ("op", "("):
            # label_replace(v, "dst", "replacement", "src", "regex"): remember dst
            depth, j = 0, i + 1
            while j < len(tokens):
                if tokens[j] == ("op", "("):
                    depth += 1
                elif tokens[j] == ("op", ")"):
                    depth -= 1
                elif depth == 1 and tokens[j] == ("op", ",") and tokens[j + 1][0] == "string":
                    query.made_labels.add(_unquote(tokens[j + 1][1]))
                    break
                j += 1
            i += 1
            continue
        if kind == "ident" and (text in AGGREGATIONS or peek(1) == ("op", "(")):
            # an aggregation (`sum by (x) (...)` or `sum(...) by (x)`) or a function
            i += 1
            continue
        if kind == "ident" and text.lower() not in KEYWORDS:
            selector = Selector(text)
            i += 1
            if peek() == ("op", "{"):
                read_matchers(selector)
            query.selectors.append(selector)
            continue
        if (kind, text) == ("op", "{"):
            selector = Selector(None)
            read_matchers(selector)
            query.selectors.append(selector)
            continue
        if (kind, text) == ("op", "["):
            while peek() != ("op", "]"):
                i += 1
        i += 1
    return query


# --- what the deployment files query -------------------------------------------------------


def alert_rules() -> Iterator[dict[str, Any]]:
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            yield from group["rules"]


def dashboards() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        yield path.name, json.loads(path.read_text(encoding="utf-8"))


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every alert, recording rule and dashboard panel query."""
    for rule in alert_rules():
        yield f"rule {rule.get('alert') or rule.get('record')}", str(rule["expr"])
    for name, dashboard in dashboards():
        for panel in dashboard_panels(dashboard):
            for target in panel.get("targets", []):
                yield f"{name}: {panel['title']} ({target['refId']})", str(target["expr"])


# --- what the services export -------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    family: str
    kind: str
    labels: frozenset[str]


def sample_names(family: str, kind: str) -> list[str]:
    """The series names a prometheus_client family produces."""
    suffixes = {
        "counter": ["_total", "_created"],
        "histogram": ["_bucket", "_sum", "_count", "_created"],
        "summary": ["", "_sum", "_count", "_created"],
        "info": ["_info"],
        "gaugehistogram": ["_bucket", "_gsum", "_gcount"],
    }.get(kind, [""])
    return [family + suffix for suffix in suffixes]


def exported_metrics() -> dict[str, Exported]:
    """Series name -> family, from the registry after importing every service as it runs."""
    for package in SERVICE_PACKAGES:
        importlib.import_module(f"{package}.app")
        importlib.import_module(f"{package}.metrics")
    catalog: dict[str, Exported] = {}
    # prometheus_client has no public list of collectors, nor of a metric's label names.
    for collector in list(REGISTRY._collector_to_names):
        labels = frozenset(getattr(collector, "_labelnames", ()))
        describe = getattr(collector, "describe", None)
        for family in describe() if describe else collector.collect():
            exported = Exported(family.name, family.type, labels)
            for name in sample_names(family.name, family.type):
                catalog[name] = exported
    return catalog


def families_in_exposition(text: str) -> dict[str, str]:
    """Family name -> type, from the `# TYPE` lines of a /metrics page."""
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            families[name] = kind
    return families


def problems(where: str, expr: str, catalog: dict[str, Exported]) -> list[str]:
    """Why `expr` asks for something no service exports (empty when it does not)."""
    query = parse(expr)
    found: list[str] = []
    known_labels: set[str] = set(TARGET_LABELS) | query.made_labels
    for selector in query.selectors:
        name = selector.metric or selector.labels.get("__name__")
        if name is None or ("__name__" in selector.labels and selector.metric is None):
            found.append(f"{where}: select metrics by name, not by a __name__ regex: {expr}")
            continue
        if name in BUILTIN:
            known_labels |= set(selector.labels)
            continue
        exported = catalog.get(name)
        if exported is None:
            found.append(f"{where}: no service exports {name}")
            continue
        allowed = set(exported.labels) | TARGET_LABELS
        if name.endswith("_bucket"):
            allowed.add("le")
        known_labels |= allowed
        for label in selector.labels:
            if label not in allowed:
                found.append(f"{where}: {name} has no label {label!r} (it has {sorted(allowed)})")
    for label in query.grouping - known_labels:
        found.append(f"{where}: groups by {label!r}, which none of its metrics has")
    return found
