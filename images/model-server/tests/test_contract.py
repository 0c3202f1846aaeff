"""Metrics contract across languages: the PromQL that the TypeScript program renders (AnalysisTemplates, the HPA's
prometheus-adapter rule) against the /metrics of a running server.

Nothing here lists metric names: they come from the rendered YAML (`npm run plan -- --stack dev|prod`), parsed
with a real PromQL parser (the `promql-parser` package). For every selector, the metric must be exposed by the
server, and every label the query matches on or groups by must be either emitted by the server on that metric
or added by the scrape that the program configures for that workload (its ServiceMonitor: Prometheus Operator
target labels, podTargetLabels, relabelings), which this test checks as well. Renaming a metric or a label on
either side fails here.
"""
import json
import re
import subprocess
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

import promql_parser as pp
import pytest

from app.metrics import INFERENCE_HANDLERS
from conftest import REPO_ROOT

# Target labels the Prometheus Operator sets on every series scraped through a ServiceMonitor endpoint
# (kube-prometheus ServiceMonitor semantics), plus Prometheus' own `instance`.
OPERATOR_TARGET_LABELS = {"namespace", "pod", "service", "endpoint", "container", "job", "instance"}
# Pod labels a controller adds to the pods it creates, beyond the template's (Argo Rollouts' ReplicaSets).
CONTROLLER_POD_LABELS = {"Rollout": {"rollouts-pod-template-hash"}, "Deployment": {"pod-template-hash"}}
ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}")
PLACEHOLDER = "__arg_{}__"
SERVER_HASH = "6d4f9c7b8"


def substitute_args(promql: str) -> str:
    """Argo `{{args.x}}` -> a placeholder string inside a quoted string (a label value), a number elsewhere
    (a threshold such as `>= {{args.min-feedback-samples}}`)."""
    parts = re.split(r'("(?:[^"\\]|\\.)*")', promql)
    return "".join(
        ARG.sub(lambda m: PLACEHOLDER.format(m.group(1)), part) if part.startswith('"') else ARG.sub("1", part)
        for part in parts
    )


def sanitize(label: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


@dataclass
class Selector:
    metric: str
    matchers: List[Tuple[str, str, str]]  # (label, op, value); op: Equal, NotEqual, Re (=~), NotRe (!~)
    grouping: Set[str] = field(default_factory=set)  # by/on labels applied to an expression containing it


@dataclass
class Query:
    stack: str
    source: str
    promql: str
    workloads: List[dict]  # the Rollouts/Deployments whose pods the query is about


def selectors(promql: str) -> List[Selector]:
    """Every vector selector of the query with its matchers and the by/on/ignoring labels applied above it."""
    expr = pp.parse(promql)
    found: List[Selector] = []

    def visit(node, grouping: Set[str]) -> None:
        if isinstance(node, pp.VectorSelector):
            ms = [(m.name, str(m.op).split(".")[-1], m.value) for m in node.matchers.matchers if m.name != "__name__"]
            name = node.name or next((m.value for m in node.matchers.matchers if m.name == "__name__"), None)
            assert name, f"selector without a metric name in {promql}"
            found.append(Selector(name, ms, set(grouping)))
        elif isinstance(node, pp.MatrixSelector):
            visit(node.vector_selector, grouping)
        elif isinstance(node, pp.AggregateExpr):
            labels = set(node.modifier.labels) if node.modifier is not None and str(node.modifier.type).endswith("By") else set()
            visit(node.expr, grouping | labels)
        elif isinstance(node, pp.BinaryExpr):
            labels = set()
            if node.modifier is not None and node.modifier.matching is not None:
                labels = set(node.modifier.matching.labels)
            visit(node.lhs, grouping | labels)
            visit(node.rhs, grouping | labels)
        elif isinstance(node, pp.Call):
            for a in node.args:
                visit(a, grouping)
        elif isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
            visit(node.expr, grouping)
        # NumberLiteral / StringLiteral: nothing to check

    visit(expr, set())
    return found


def _by_kind(objs: Iterable[dict], *kinds: str) -> List[dict]:
    return [o for o in objs if o.get("kind") in kinds]


def _selects(selector: Dict[str, str], labels: Dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _template_names(rollout: dict) -> Set[str]:
    canary = (rollout["spec"].get("strategy") or {}).get("canary") or {}
    names = {t["templateName"] for t in (canary.get("analysis") or {}).get("templates", [])}
    for step in canary.get("steps", []):
        names |= {t["templateName"] for t in (step.get("analysis") or {}).get("templates", [])}
    return names


def adapter_rules() -> List[dict]:
    """prometheus-adapter rules the program defines (not rendered as a Kubernetes object: the adapter chart is
    installed outside the program), read from the TypeScript module that the HPA's metric names come from."""
    script = (
        "const m = require('./components/serving/autoscaling');"
        "const out = [];"
        "for (const [k, v] of Object.entries(m)) if (typeof v === 'function' && /adapter.*rule/i.test(k)) {"
        " const r = v(); for (const x of [].concat(r)) if (x && x.seriesQuery && x.metricsQuery) out.push(x); }"
        "console.log(JSON.stringify(out));"
    )
    proc = subprocess.run(
        [str(REPO_ROOT / "node_modules" / ".bin" / "ts-node"), "--transpile-only", "-e", script],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def adapter_promql(rule: dict, metric_name: str) -> List[str]:
    """The seriesQuery and the metricsQuery as the adapter expands them for a pods metric."""
    series = selectors(rule["seriesQuery"])
    names = [s.metric for s in series if re.search(rule["name"]["matches"], s.metric)]
    assert names, f"adapter rule for {metric_name}: no series of {rule['seriesQuery']} matches {rule['name']['matches']}"
    overrides = (rule.get("resources") or {}).get("overrides") or {}
    matchers = ",".join(f'{label}="x"' for label in overrides) or 'namespace="x"'
    group_by = next((label for label, res in overrides.items() if res.get("resource") == "pod"), "pod")
    expanded = (
        rule["metricsQuery"].replace("<<.Series>>", names[0]).replace("<<.LabelMatchers>>", matchers).replace("<<.GroupBy>>", group_by)
    )
    return [rule["seriesQuery"], expanded]


def collect_queries(rendered: Dict[str, List[dict]], rules: List[dict]) -> List[Query]:
    queries: List[Query] = []
    for stack, objs in rendered.items():
        workloads = _by_kind(objs, "Rollout", "Deployment")
        for tmpl in _by_kind(objs, "AnalysisTemplate", "ClusterAnalysisTemplate"):
            users = [w for w in workloads if w["kind"] == "Rollout" and tmpl["metadata"]["name"] in _template_names(w)]
            for m in tmpl["spec"].get("metrics", []):
                prom = (m.get("provider") or {}).get("prometheus")
                if prom:
                    queries.append(Query(stack, f"{tmpl['kind']}/{tmpl['metadata']['name']} metric {m['name']}", prom["query"], users))
        for hpa in _by_kind(objs, "HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            target = [w for w in workloads if w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"]]
            for m in hpa["spec"].get("metrics", []):
                if m["type"] == "Resource":
                    continue
                name = m[{"Pods": "pods", "Object": "object", "External": "external"}[m["type"]]]["metric"]["name"]
                matching = [r for r in rules if r["name"].get("as") == name or re.fullmatch(r["name"]["matches"], name)]
                assert matching, f"{stack} HPA {hpa['metadata']['name']}: no prometheus-adapter rule serves the {m['type']} metric {name!r}"
                for rule in matching:
                    for q in adapter_promql(rule, name):
                        queries.append(Query(stack, f"HPA/{hpa['metadata']['name']} {m['type']} metric {name} (adapter rule)", q, target))
        # KEDA (serving.autoscaler auto|keda): the ScaledObject's prometheus trigger holds its own PromQL
        # (keda v2.21.0 pkg/scalers/prometheus_scaler.go reads metadata.query).
        for so in _by_kind(objs, "ScaledObject"):
            ref = so["spec"]["scaleTargetRef"]
            target = [w for w in workloads if w["kind"] == ref.get("kind", "Deployment") and w["metadata"]["name"] == ref["name"]]
            for t in so["spec"].get("triggers", []):
                if t["type"] == "prometheus":
                    queries.append(Query(stack, f"ScaledObject/{so['metadata']['name']} prometheus trigger", t["metadata"]["query"], target))
    return queries


def scrape_labels(objs: List[dict], workload: dict) -> Tuple[Set[str], List[str]]:
    """Labels the scrape adds to this workload's series, and the problems found in its scrape configuration."""
    ns = workload["metadata"].get("namespace", "default")
    pod_labels = dict(workload["spec"]["template"]["metadata"].get("labels") or {})
    for extra in CONTROLLER_POD_LABELS.get(workload["kind"], ()):
        pod_labels[extra] = "<controller>"
    containers = workload["spec"]["template"]["spec"]["containers"]
    container_ports = {p.get("name"): p["containerPort"] for c in containers for p in c.get("ports", [])}
    services = [
        s for s in _by_kind(objs, "Service")
        if s["metadata"].get("namespace", "default") == ns and _selects(s["spec"].get("selector") or {}, pod_labels)
    ]
    problems: List[str] = []
    labels: Set[str] = set()
    monitors = 0
    for sm in _by_kind(objs, "ServiceMonitor"):
        ns_sel = sm["spec"].get("namespaceSelector") or {}
        if not (ns_sel.get("any") or ns in ns_sel.get("matchNames", [sm["metadata"].get("namespace")])):
            continue
        selected = [s for s in services if _selects(sm["spec"]["selector"].get("matchLabels") or {}, s["metadata"].get("labels") or {})]
        if not selected:
            continue
        monitors += 1
        for ep in sm["spec"].get("endpoints", []):
            if ep.get("path", "/metrics") != "/metrics":
                problems.append(f"ServiceMonitor {sm['metadata']['name']} scrapes {ep.get('path')}, the server serves /metrics")
            for svc in selected:
                ports = {p.get("name"): p for p in svc["spec"].get("ports", [])}
                port = ports.get(ep.get("port"))
                if port is None:
                    problems.append(f"ServiceMonitor {sm['metadata']['name']} endpoint port {ep.get('port')!r} is not a port of Service {svc['metadata']['name']}")
                    continue
                tp = port.get("targetPort", port.get("port"))
                if (tp not in container_ports) if isinstance(tp, str) else (tp not in container_ports.values()):
                    problems.append(f"Service {svc['metadata']['name']} port {ep.get('port')} targets {tp!r}, not a container port of {workload['metadata']['name']}")
            for rl in ep.get("relabelings", []) + ep.get("metricRelabelings", []):
                if rl.get("targetLabel") and rl.get("action", "replace") in ("replace", "hashmod"):
                    labels.add(rl["targetLabel"])
        for pl in sm["spec"].get("podTargetLabels", []):
            if pl not in pod_labels:
                problems.append(f"ServiceMonitor {sm['metadata']['name']} copies pod label {pl!r}, which {workload['kind']} {workload['metadata']['name']}'s pods do not carry")
            else:
                labels.add(sanitize(pl))
        labels |= OPERATOR_TARGET_LABELS
    if monitors == 0:
        problems.append(f"no ServiceMonitor scrapes {workload['kind']} {workload['metadata']['name']} (through a Service selecting its pods)")
    return labels, problems


@pytest.fixture(scope="module")
def exposed(start_server_module) -> Dict[str, List[Dict[str, str]]]:
    """name -> label sets of every sample the server exposes after realistic traffic (200s, a 422, feedback)."""
    srv = start_server_module
    status, body = srv.post("/predict", {"instances": [[1, 2, 3, 4], [-3, 1, 0, 2]]})
    assert status == 200
    for n, p in enumerate(body["predictions"]):
        assert srv.post("/feedback", {"id": p["id"], "label": p["label"] if n == 0 else 1 - p["label"]})[0] == 200
    assert srv.post("/predict", {"features": [1]})[0] == 422
    assert srv.post("/feedback", {"id": "bad", "label": 1})[0] == 422
    # Open Inference Protocol v2 traffic: a 200 and a 400 under handler="/v2/infer".
    status, meta = srv.get("/v2/models/model")
    assert status == 200, meta
    name, features = meta["inputs"][0]["name"], meta["inputs"][0]["shape"][1]
    assert srv.post("/v2/models/model/infer", {"inputs": [{"name": name, "shape": [1, features], "datatype": "FP32", "data": [0.5] * features}]})[0] == 200
    assert srv.post("/v2/models/model/infer", {"inputs": [{"name": name, "shape": [1, features + 1], "datatype": "FP32", "data": [0.5] * (features + 1)}]})[0] == 400
    out: Dict[str, List[Dict[str, str]]] = {}
    for name, labels, _ in srv.samples():
        out.setdefault(name, []).append(labels)
    return out


@pytest.fixture(scope="module")
def start_server_module(tmp_path_factory, model_file, trained):
    from conftest import Server

    # A model card as the image carries one (card.json beside the weights): the lineage series are in the sample.
    # Its model is the one this server runs (MODEL_NAME's default, "model"): a card of another model is `mismatch`.
    card = tmp_path_factory.mktemp("card") / "card.json"
    card.write_text(json.dumps({**json.loads((trained["digits/1.1.0"].dir / "card.json").read_text()), "model": "model"}))
    srv = Server(tmp_path_factory.mktemp("contract"), {"MODEL_PATH": str(model_file), "MODEL_CARD_PATH": str(card), "WEB_CONCURRENCY": "2",
                                                       "POD_TEMPLATE_HASH": SERVER_HASH, "MODEL_VERSION": "1.1.0", "GIT_SHA": "0123abc"})
    try:
        yield srv.wait_ready()
    finally:
        srv.close()


@pytest.fixture(scope="module")
def queries(rendered_stacks) -> List[Query]:
    qs = collect_queries(rendered_stacks, adapter_rules())
    return qs


def check_query(q: Query, objs: List[dict], exposed: Dict[str, List[Dict[str, str]]]) -> List[str]:
    problems: List[str] = []
    promql = substitute_args(q.promql)
    try:
        sels = selectors(promql)
    except Exception as e:  # noqa: BLE001
        return [f"{q.stack} {q.source}: does not parse as PromQL ({e}): {q.promql}"]
    if not q.workloads:
        problems.append(f"{q.stack} {q.source}: no Rollout/Deployment uses it")
    scrape: Optional[Set[str]] = None
    for w in q.workloads:
        labels, p = scrape_labels(objs, w)
        problems += [f"{q.stack} {q.source}: {x}" for x in p]
        scrape = labels if scrape is None else scrape & labels
    scrape = scrape or set()
    for s in sels:
        if s.metric not in exposed:
            problems.append(f"{q.stack} {q.source}: the server does not expose {s.metric} (query: {q.promql})")
            continue
        server_labels = set().union(*(set(l) for l in exposed[s.metric]))
        for label, op, value in s.matchers:
            if label in server_labels:
                values = {l.get(label) for l in exposed[s.metric]} - {None}
                if op == "Equal" and "__arg_" not in value and value not in values:
                    problems.append(f"{q.stack} {q.source}: {s.metric}{{{label}={value!r}}} never appears (server emits {sorted(values)})")
                if op == "Re" and "__arg_" not in value and not any(re.fullmatch(value, v) for v in values):
                    problems.append(f"{q.stack} {q.source}: {s.metric}{{{label}=~{value!r}}} matches no value the server emits ({sorted(values)})")
            elif label not in scrape:
                problems.append(f"{q.stack} {q.source}: label {label!r} of {s.metric} is neither emitted by the server ({sorted(server_labels)}) nor added by the scrape ({sorted(scrape)})")
        for label in s.grouping:
            if label not in server_labels and label not in scrape:
                problems.append(f"{q.stack} {q.source}: groups {s.metric} by {label!r}, which neither the server nor the scrape provides")
        if any(label == "served_by" for label, _, _ in s.matchers):
            for w in q.workloads:
                env = {e["name"]: e for c in w["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
                ref = ((env.get("POD_TEMPLATE_HASH") or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath", "")
                if "rollouts-pod-template-hash" not in ref:
                    problems.append(f"{q.stack} {q.source}: queries served_by, but {w['metadata']['name']}'s pods do not get POD_TEMPLATE_HASH from metadata.labels['rollouts-pod-template-hash'] (got {ref!r})")
    return problems


def _selects_value(op: str, pattern: str, value: str) -> bool:
    """Whether a PromQL label matcher selects `value` (regex matchers are fully anchored, as in Prometheus)."""
    return {
        "Equal": lambda: value == pattern,
        "NotEqual": lambda: value != pattern,
        "Re": lambda: re.fullmatch(pattern, value) is not None,
        "NotRe": lambda: re.fullmatch(pattern, value) is None,
    }[op]()


def inference_handler_problems(q: Query) -> List[str]:
    """A query about inference requests (a `handler` matcher that selects /predict) must select every inference
    handler the server has (app/metrics.py INFERENCE_HANDLERS: /predict and the Open Inference Protocol's
    /v2/infer); otherwise the v2 traffic of a version escapes its canary gates."""
    problems: List[str] = []
    for s in selectors(substitute_args(q.promql)):
        matchers = [(op, value) for label, op, value in s.matchers if label == "handler"]
        if not matchers or not all(_selects_value(op, v, "/predict") for op, v in matchers):
            continue
        missed = [h for h in INFERENCE_HANDLERS if not all(_selects_value(op, v, h) for op, v in matchers)]
        if missed:
            shown = ",".join(f"handler{ {'Equal': '=', 'NotEqual': '!=', 'Re': '=~', 'NotRe': '!~'}[op]}{json.dumps(v)}" for op, v in matchers)
            problems.append(f"{q.stack} {q.source}: {s.metric}{{{shown}}} selects /predict but not {', '.join(missed)} (inference handlers: {'|'.join(INFERENCE_HANDLERS)})")
    return problems


# Series of the METRICS.md table that appear only after a failure, not in the sample of a healthy server.
ONLY_ON_FAILURE = {"model_server_model_load_errors_total"}


def contract_series() -> Set[str]:
    """The series names of images/model-server/METRICS.md's table (histograms expanded), as tests/promtool reads it."""
    text = (REPO_ROOT / "images" / "model-server" / "METRICS.md").read_text()
    out: Set[str] = set()
    for name, kind in re.findall(r"^\| `(model_server_[a-z_]+)` \| (\w+)", text, re.M):
        out |= {name + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return out


def test_every_documented_series_is_exposed(exposed):
    """The dashboard and rules (tests/promtool) may select what METRICS.md documents: the server must expose it,
    the lineage series included."""
    documented = contract_series()
    assert {"model_server_model_lineage_info", "model_server_model_heldout_accuracy"} <= documented
    assert sorted(documented - ONLY_ON_FAILURE - set(exposed)) == []
    [lineage] = exposed["model_server_model_lineage_info"]
    assert set(lineage) == {"model", "version", "parent", "dataset", "dataset_version", "git_sha", "training_spec", "card"}
    assert (lineage["parent"], lineage["card"], lineage["git_sha"]) == ("1.0.0", "present", "0123abc")
    [held] = exposed["model_server_model_heldout_accuracy"]
    assert set(held) == {"split"} and len(held["split"]) == 64


def test_rendered_queries_were_found(queries):
    sources = {q.source for q in queries}
    assert any(s.startswith("AnalysisTemplate/") for s in sources), sources
    # The request-rate autoscaling query: KEDA's trigger (serving.autoscaler auto|keda) or prometheus-adapter's rule (hpa).
    assert any(s.startswith(("HPA/", "ScaledObject/")) for s in sources), sources
    assert all(selectors(substitute_args(q.promql)) for q in queries)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_metric_and_label_is_exposed(stack, queries, rendered_stacks, exposed):
    problems = [p for q in queries if q.stack == stack for p in check_query(q, rendered_stacks[stack], exposed)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_inference_queries_select_every_inference_handler(stack, queries):
    """The canary's success-rate, client-error and p99 queries must count /predict AND /v2/infer traffic, e.g.
    handler=~"/predict|/v2/infer" (metric contract: METRICS.md)."""
    problems = [p for q in queries if q.stack == stack for p in inference_handler_problems(q)]
    assert not problems, "\n".join(problems)


def test_the_inference_handler_check_catches_a_query_without_v2():
    sel = 'namespace="n",app_kubernetes_io_name="m"'
    ok = [f'sum(rate(model_server_requests_total{{{sel},handler=~"/predict|/v2/infer"}}[2m]))', f"sum(rate(model_server_feedback_total{{{sel}}}[10m]))",
          f'sum(rate(model_server_requests_total{{{sel},handler="/feedback"}}[2m]))', f'sum(rate(model_server_requests_total{{{sel},handler!="/feedback"}}[2m]))']
    bad = [f'sum(rate(model_server_requests_total{{{sel},handler="/predict"}}[2m]))',
           f'1000 * histogram_quantile(0.99, sum by (le) (rate(model_server_request_duration_seconds_bucket{{{sel},handler=~"/predict|/v1/infer"}}[2m])))',
           f'sum(rate(model_server_requests_total{{{sel},handler!~"/v2/.*"}}[2m]))']
    for promql in ok:
        assert inference_handler_problems(Query("dev", "synthetic", promql, [])) == [], promql
    for promql in bad:
        found = inference_handler_problems(Query("dev", "synthetic", promql, []))
        assert len(found) == 1 and "not /v2/infer" in found[0], (promql, found)


def test_the_checker_catches_a_renamed_metric_or_label(queries, rendered_stacks, exposed):
    """Mutations of one rendered query (what a rename on the TypeScript side looks like) must be reported."""
    q = next(q for q in queries if "model_server_requests_total" in q.promql and q.workloads)
    objs = rendered_stacks[q.stack]
    assert check_query(q, objs, exposed) == []
    renamed = Query(q.stack, q.source, q.promql.replace("model_server_requests_total", "model_server_http_requests_total"), q.workloads)
    assert any("does not expose model_server_http_requests_total" in p for p in check_query(renamed, objs, exposed))
    relabelled = Query(q.stack, q.source, q.promql.replace("handler=", "route="), q.workloads)
    assert any("label 'route'" in p for p in check_query(relabelled, objs, exposed))
    value = Query(q.stack, q.source, re.sub(r'handler=~?"[^"]*"', 'handler="/v1/predict"', q.promql), q.workloads)
    assert any("never appears" in p for p in check_query(value, objs, exposed))
    regex = Query(q.stack, q.source, re.sub(r'handler=~?"[^"]*"', 'handler=~"/v1/predict|/v1/infer"', q.promql), q.workloads)
    assert any("matches no value" in p for p in check_query(regex, objs, exposed))
    by_pod_label = Query(q.stack, q.source, q.promql.replace("app_kubernetes_io_name", "app_kubernetes_io_instance"), q.workloads)
    assert any("app_kubernetes_io_instance" in p for p in check_query(by_pod_label, objs, exposed))


def test_the_checker_catches_a_server_side_rename(queries, rendered_stacks, exposed):
    q = next(q for q in queries if "model_server_request_duration_seconds_bucket" in q.promql and q.workloads)
    objs = rendered_stacks[q.stack]
    renamed = {("model_server_latency_seconds_bucket" if k == "model_server_request_duration_seconds_bucket" else k): v for k, v in exposed.items()}
    assert any("does not expose model_server_request_duration_seconds_bucket" in p for p in check_query(q, objs, renamed))
    no_le = {k: ([{x: y for x, y in l.items() if x != "le"} for l in v] if k.endswith("_bucket") else v) for k, v in exposed.items()}
    assert any("'le'" in p for p in check_query(q, objs, no_le))


def test_the_checker_catches_a_scrape_that_drops_a_label(queries, rendered_stacks, exposed):
    import copy

    q = next(q for q in queries if "rollouts_pod_template_hash" in q.promql and q.workloads)
    objs = copy.deepcopy(rendered_stacks[q.stack])
    for sm in _by_kind(objs, "ServiceMonitor"):
        sm["spec"]["podTargetLabels"] = [l for l in sm["spec"].get("podTargetLabels", []) if l != "rollouts-pod-template-hash"]
    assert any("rollouts_pod_template_hash" in p for p in check_query(q, objs, exposed))


def test_served_by_queries_need_the_pod_template_hash_in_the_pod(rendered_stacks, exposed):
    """Contract v2: served_by is emitted by the server from POD_TEMPLATE_HASH, which the pod must get from the
    downward API. A query on served_by against pods without it is reported."""
    import copy

    stack = "prod"
    rollout = next(w for w in _by_kind(rendered_stacks[stack], "Rollout"))
    promql = 'sum(rate(model_server_feedback_total{namespace="{{args.namespace}}",app_kubernetes_io_name="{{args.model}}",served_by="{{args.canary-hash}}",outcome="correct"}[10m]))'
    with_env = copy.deepcopy(rollout)
    without_env = copy.deepcopy(rollout)
    for c in with_env["spec"]["template"]["spec"]["containers"]:
        c["env"] = [e for e in c.get("env", []) if e["name"] != "POD_TEMPLATE_HASH"] + [
            {"name": "POD_TEMPLATE_HASH", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['rollouts-pod-template-hash']"}}}
        ]
    for c in without_env["spec"]["template"]["spec"]["containers"]:
        c["env"] = [e for e in c.get("env", []) if e["name"] != "POD_TEMPLATE_HASH"]
    objs = rendered_stacks[stack]
    assert check_query(Query(stack, "synthetic", promql, [with_env]), objs, exposed) == []
    assert any("POD_TEMPLATE_HASH" in p for p in check_query(Query(stack, "synthetic", promql, [without_env]), objs, exposed))
