#!/usr/bin/env python3
"""Offline checks of the deployment manifests under deploy/ (run by .ci/run).

Why: no Docker engine or cluster exists where CI runs, so `docker compose config` and
`kubectl apply --dry-run=server` are unavailable. This parses every YAML file and checks the
invariants the operations docs promise (grace period above the shutdown deadline, KEDA counting
unacked jobs, namespace-agnostic manifests), so an edit that breaks one fails CI.
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
    for name in ("postgres", "rabbitmq", "mock-upstream", "worker"):
        check(name in services, f"compose.yaml: service {name} is missing")
        check("healthcheck" in services.get(name, {}), f"compose.yaml: {name} has no healthcheck")
    worker = services.get("worker", {})
    check(worker.get("deploy", {}).get("replicas") == 2, "compose.yaml: worker needs deploy.replicas: 2")
    check(services.get("mock-upstream", {}).get("command", [None])[0] == "mock-upstream",
          "compose.yaml: mock-upstream must run `id2meta mock-upstream`")


def check_kubernetes():
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in load_all(path):
            where = f"k8s/{path.name}"
            check(isinstance(doc, dict) and "kind" in doc, f"{where}: a document has no kind")
            if path.name == "kustomization.yaml":
                for res in doc.get("resources", []):
                    check((path.parent / res).exists(), f"{where}: resource {res} does not exist")
                continue
            check("apiVersion" in doc and doc.get("metadata", {}).get("name"),
                  f"{where}: {doc.get('kind')} needs apiVersion and metadata.name")
            check("namespace" not in doc.get("metadata", {}),
                  f"{where}: {doc.get('kind')} sets a namespace; manifests are namespace-agnostic")
            docs.setdefault(doc["kind"], []).append(doc)

    config = docs.get("ConfigMap", [{}])[0].get("data", {})
    deadline = int(config.get("ID2META_SHUTDOWN_DEADLINE_SECS", "25"))
    for deployment in docs.get("Deployment", []):
        pod = deployment["spec"]["template"]["spec"]
        check(pod.get("terminationGracePeriodSeconds", 30) > deadline,
              "deployment: terminationGracePeriodSeconds must exceed ID2META_SHUTDOWN_DEADLINE_SECS")
        for container in pod["containers"]:
            paths = {probe: container.get(probe, {}).get("httpGet", {}).get("path")
                     for probe in ("livenessProbe", "readinessProbe")}
            check(paths == {"livenessProbe": "/healthz", "readinessProbe": "/readyz"},
                  f"deployment: probes must be /healthz (liveness) and /readyz (readiness), got {paths}")

    for scaled in docs.get("ScaledObject", []):
        spec = scaled["spec"]
        check(spec.get("minReplicaCount", 0) >= 1, "scaledobject: minReplicaCount must be at least 1")
        for trigger in spec.get("triggers", []):
            meta = trigger.get("metadata", {})
            check(trigger.get("type") == "rabbitmq", "scaledobject: trigger must be rabbitmq")
            check(meta.get("protocol") == "http", "scaledobject: protocol http (counts unacked jobs)")
            check(meta.get("mode") == "QueueLength" and "value" in meta,
                  "scaledobject: mode QueueLength with value (queueLength is deprecated)")
            check(meta.get("queueName") == config.get("ID2META_JOBS_QUEUE"),
                  "scaledobject: queueName must be the ConfigMap's ID2META_JOBS_QUEUE")
    for kind in ("Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget",
                 "ScaledObject", "TriggerAuthentication"):
        check(kind in docs, f"k8s: no {kind} manifest")


check_compose()
check_kubernetes()
check((DEPLOY / "Dockerfile").is_file(), "Dockerfile is missing")
if problems:
    print("deploy/validate.py: FAILED", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print("deploy/validate.py: compose.yaml and k8s/*.yaml parse and hold their invariants")
