"""A Kubernetes Deployment + Service running the planned vLLM server.

Each pod is one replica holding ``tensor x pipeline parallel`` GPUs; readiness and liveness
probes hit vLLM's ``/health``; shared memory is mounted for NCCL. Plain dicts dumped with
PyYAML (a dependency of the gguf package).
"""

from __future__ import annotations

import shlex
from typing import Any

from canserve.deploy.commands import Deployment, engine_versions, vllm_command

__all__ = ["kubernetes_manifest"]


def _name(model_id: str) -> str:
    base = model_id.split("/")[-1].lower()
    return "".join(c if c.isalnum() else "-" for c in base).strip("-")[:50] or "llm"


def kubernetes_manifest(d: Deployment) -> str:
    import yaml

    name = _name(d.model_id)
    gpus = d.tensor_parallel_size * d.pipeline_parallel_size
    command = vllm_command(d).splitlines()[-1]
    probe = {"httpGet": {"path": "/health", "port": d.port}, "periodSeconds": 10}
    container: dict[str, Any] = {
        "name": "vllm",
        "image": engine_versions()["vllm"]["image"],
        "command": shlex.split(command),
        "ports": [{"containerPort": d.port, "name": "http"}],
        "resources": {"limits": {"nvidia.com/gpu": gpus}, "requests": {"nvidia.com/gpu": gpus}},
        "readinessProbe": {**probe, "initialDelaySeconds": 60, "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 600, "failureThreshold": 6},
        "startupProbe": {**probe, "failureThreshold": 120},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
        "env": [
            {
                "name": "HF_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}
                },
            }
        ],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": d.replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [container],
                    "restartPolicy": "Always",
                    "volumes": [
                        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": d.port}],
        },
    }
    return str(yaml.safe_dump_all([deployment, service], sort_keys=False))
