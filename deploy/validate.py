#!/usr/bin/env python3
"""Offline checks of the deployment manifests under deploy/ (run by .ci/run).

Why: no Docker engine or cluster exists where CI runs, so `docker compose config` and
`kubectl apply --dry-run=server` are unavailable. This parses every YAML file and checks the
invariants the operations docs promise (grace period above the 30 s exit bound, KEDA counting
unacked jobs with separate credentials, no replicas under an autoscaler, drains that cannot hang,
pinned images, config changes that roll pods, TLS to the database, monitoring, egress limits,
RRSA), so an edit that breaks one fails CI.
"""
import pathlib
import sys

try:
    import yaml
except ImportError:
    sys.exit("deploy/validate.py: PyYAML is missing: python3 -m pip install pyyaml")

DEPLOY = pathlib.Path(__file__).resolve().parent
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def load_all(path):
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as err:
        problems.append(f"{path.relative_to(DEPLOY)}: does not parse: {err}")
        return []


def check_compose():
    (compose,) = load_all(DEPLOY / "compose.yaml") or [None]
    if compose is None:
        return
    services = compose.get("services", {})
    for name in ("postgres", "rabbitmq", "mock-upstream", "worker", "prometheus", "grafana"):
        check(name in services, f"compose.yaml: service {name} is missing")
        check("healthcheck" in services.get(name, {}), f"compose.yaml: {name} has no healthcheck")
    worker = services.get("worker", {})
    check(worker.get("deploy", {}).get("replicas") == 2, "compose.yaml: worker needs deploy.replicas: 2")
    env = worker.get("environment", {})
    check(str(env.get("ID2META_ALLOW_HTTP", "")).endswith("true}") or env.get("ID2META_ALLOW_HTTP") == "true",
          "compose.yaml: the worker talks plain http to the mock: it needs ID2META_ALLOW_HTTP")
    mock = services.get("mock-upstream", {})
    command = mock.get("command", [None])
    check(command[0] == "mock-upstream", "compose.yaml: mock-upstream must run `id2meta mock-upstream`")
    check("--qps" in command, "compose.yaml: the mock must enforce a QPS limit (--qps)")
    for name in ("mock-upstream", "worker"):
        check(services.get(name, {}).get("stop_signal") == "SIGTERM",
              f"compose.yaml: {name} must be stopped with SIGTERM (it drains on it)")
    for name in ("prometheus", "grafana"):
        check(services.get(name, {}).get("profiles") == ["monitoring"],
              f"compose.yaml: {name} belongs to the monitoring profile only")


def check_dockerfile():
    text = (DEPLOY / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    check(froms, "Dockerfile: no FROM line")
    for image in froms:
        check("@sha256:" in image, f"Dockerfile: base image {image} is not pinned by digest")
    lock = text.find("COPY Cargo.toml Cargo.lock")
    sources = text.find("COPY src")
    check(0 <= lock < sources, "Dockerfile: dependencies must be built in a layer before the sources are copied")


def check_grafana():
    sys.path.insert(0, str(DEPLOY / "grafana"))
    import build_dashboard  # noqa: E402  (the generator beside the dashboard)

    path = DEPLOY / "grafana" / "dashboards" / "id2meta.json"
    check(path.is_file() and path.read_text() == build_dashboard.render(),
          "grafana: dashboards/id2meta.json is not what build_dashboard.py writes: run it")
    exprs = " ".join(t["expr"] for p in build_dashboard.dashboard()["panels"] for t in p["targets"])
    for metric in ("id2meta_jobs_total", "id2meta_upstream_calls_total", "id2meta_upstream_latency_seconds_bucket",
                   "id2meta_limiter_wait_seconds_bucket", "id2meta_consumer_paused", "id2meta_dead_lettered_total"):
        check(metric in exprs, f"grafana: no panel uses {metric}")
    for sub in ("provisioning/datasources/prometheus.yaml", "provisioning/dashboards/id2meta.yaml"):
        check(bool(load_all(DEPLOY / "grafana" / sub)), f"grafana: {sub} is missing or empty")
    check(bool(load_all(DEPLOY / "prometheus" / "prometheus.yml")), "prometheus/prometheus.yml is missing")


def read_env(path):
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def check_kubernetes():
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in load_all(path):
            where = f"k8s/{path.name}"
            check(isinstance(doc, dict) and "kind" in doc, f"{where}: a document has no kind")
            if path.name == "kustomization.yaml":
                kustomization = doc
                for res in doc.get("resources", []):
                    check((path.parent / res).exists(), f"{where}: resource {res} does not exist")
                continue
            check("apiVersion" in doc and doc.get("metadata", {}).get("name"),
                  f"{where}: {doc.get('kind')} needs apiVersion and metadata.name")
            check("namespace" not in doc.get("metadata", {}),
                  f"{where}: {doc.get('kind')} sets a namespace; manifests are namespace-agnostic")
            docs.setdefault(doc["kind"], []).append(doc)

    generators = {g["name"]: g for g in kustomization.get("configMapGenerator", [])}
    check("id2meta-config" in generators,
          "kustomization: id2meta-config must come from a configMapGenerator (a change rolls the pods)")
    check("ConfigMap" not in docs, "k8s: a hand-written ConfigMap does not roll the pods; use the generator")
    config = read_env(DEPLOY / "k8s" / "config.env")
    deadline = int(config.get("ID2META_SHUTDOWN_DEADLINE_SECS", "25"))
    check(deadline <= 20, "config.env: the drain deadline must leave room for the bounded exit steps (<= 20 s)")
    for deployment in docs.get("Deployment", []):
        spec = deployment["spec"]
        check("replicas" not in spec, "deployment: no spec.replicas (KEDA owns the count; apply would reset it)")
        pod = spec["template"]["spec"]
        check(pod.get("terminationGracePeriodSeconds", 30) >= 30 + 5,
              "deployment: terminationGracePeriodSeconds must exceed the worker's 30 s exit bound")
        keys = [c.get("topologyKey") for c in pod.get("topologySpreadConstraints", [])]
        check("topology.kubernetes.io/zone" in keys, "deployment: spread the replicas over zones")
        for container in pod["containers"]:
            paths = {probe: container.get(probe, {}).get("httpGet", {}).get("path")
                     for probe in ("livenessProbe", "readinessProbe")}
            check(paths == {"livenessProbe": "/healthz", "readinessProbe": "/readyz"},
                  f"deployment: probes must be /healthz (liveness) and /readyz (readiness), got {paths}")
            memory = container.get("resources", {}).get("requests", {}).get("memory", "0Mi")
            check(memory.endswith("Mi") and int(memory[:-2]) >= 64,
                  "deployment: request at least 64Mi (above the measured peak)")

    for pdb in docs.get("PodDisruptionBudget", []):
        check(pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow",
              "pdb: unhealthyPodEvictionPolicy: AlwaysAllow, or drains hang while every pod is unready")

    for auth in docs.get("TriggerAuthentication", []):
        params = {ref.get("parameter") for ref in auth["spec"].get("secretTargetRef", [])}
        check({"host", "username", "password"} <= params,
              "triggerauthentication: give KEDA username and password separately, not inside host")
    for secret in docs.get("Secret", []):
        data = secret.get("stringData", {})
        if "host" in data:
            check("@" not in data["host"], "secret.example: the KEDA host URL must not carry credentials")
        if "DATABASE_URL" in data:
            check("sslmode=verify-full" in data["DATABASE_URL"] and "sslrootcert=" in data["DATABASE_URL"],
                  "secret.example: DATABASE_URL must use sslmode=verify-full with the CA (sslrootcert)")
        check("ALIBABA_CLOUD_SECURITY_TOKEN" not in data,
              "secret.example: no static STS token (it expires; the worker refreshes credentials itself)")

    queues = set()
    for scaled in docs.get("ScaledObject", []):
        spec = scaled["spec"]
        check(spec.get("minReplicaCount", 0) >= 1, "scaledobject: minReplicaCount must be at least 1")
        behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        check("scaleDown" in behavior,
              "scaledobject: set the HPA scaleDown behaviour (cooldownPeriod only applies to zero)")
        for trigger in spec.get("triggers", []):
            meta = trigger.get("metadata", {})
            queues.add(meta.get("queueName"))
            check(trigger.get("type") == "rabbitmq", "scaledobject: trigger must be rabbitmq")
            check(meta.get("protocol") == "http", "scaledobject: protocol http (counts unacked jobs)")
            check(meta.get("mode") == "QueueLength" and "value" in meta,
                  "scaledobject: mode QueueLength with value (queueLength is deprecated)")
            check("authenticationRef" in trigger, "scaledobject: every trigger needs the TriggerAuthentication")
    jobs = config.get("ID2META_JOBS_QUEUE")
    check(queues == {jobs, f"{jobs}.interactive"},
          f"scaledobject: triggers for {jobs} and {jobs}.interactive, got {sorted(map(str, queues))}")

    rules = [r.get("alert") for doc in docs.get("PrometheusRule", [])
             for group in doc["spec"]["groups"] for r in group["rules"]]
    for alert in ("Id2metaConsumerPaused", "Id2metaBacklogOld", "Id2metaDeadLettersGrowing", "Id2metaThrottled"):
        check(alert in rules, f"prometheusrule: alert {alert} is missing")
    check("PodMonitor" in docs or "ServiceMonitor" in docs, "k8s: no PodMonitor or ServiceMonitor")
    for policy in docs.get("NetworkPolicy", []):
        ports = {p.get("port") for rule in policy["spec"].get("egress", []) for p in rule.get("ports", [])}
        check(ports == {53, 5432, 5671, 5672, 443},
              f"networkpolicy: egress only to DNS, PostgreSQL, AMQP and 443, got {sorted(ports)}")
    for kind in ("Deployment", "Secret", "Service", "PodDisruptionBudget", "ScaledObject",
                 "TriggerAuthentication", "NetworkPolicy", "PrometheusRule", "ServiceAccount"):
        check(kind in docs, f"k8s: no {kind} manifest")


def check_rrsa():
    folder = DEPLOY / "k8s" / "rrsa"
    namespaces = [d for d in load_all(folder / "namespace.yaml") if d.get("kind") == "Namespace"]
    check(any(n["metadata"].get("labels", {}).get("pod-identity.alibabacloud.com/injection") == "on"
              for n in namespaces), "rrsa: the namespace needs pod-identity.alibabacloud.com/injection: 'on'")
    (kustomization,) = load_all(folder / "kustomization.yaml") or [{}]
    patches = " ".join(p.get("patch", "") for p in kustomization.get("patches", []))
    check("pod-identity.alibabacloud.com/role-name" in patches,
          "rrsa: the ServiceAccount needs the pod-identity.alibabacloud.com/role-name annotation")
    for doc in load_all(folder / "secret.example.yaml"):
        data = doc.get("stringData", {})
        check(not any(k.startswith("ALIBABA_CLOUD_ACCESS_KEY") for k in data),
              "rrsa: the secret must hold no AccessKey")


check_compose()
check_kubernetes()
check_rrsa()
check_dockerfile()
check_grafana()
if problems:
    print("deploy/validate.py: FAILED", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("deploy/validate.py: compose, Dockerfile, k8s (base and rrsa) and grafana hold their invariants")
