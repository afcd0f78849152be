"""A Kubernetes Deployment + Service running the planned vLLM server.

Each pod is one replica holding ``tensor x pipeline parallel`` GPUs of the plan's vendor: NVIDIA
GPUs are requested as ``nvidia.com/gpu`` (NVIDIA device plugin) with the CUDA image, AMD GPUs as
``amd.com/gpu`` (AMD GPU device plugin, https://github.com/ROCm/k8s-device-plugin) with the ROCm
image. Readiness and liveness probes hit vLLM's ``/health``; shared memory is mounted for
NCCL/RCCL. When the plan serves the output of a quantization step, the pods mount a volume
``model-weights`` at ``/models`` that must hold it. Plain dicts dumped with PyYAML (a dependency
of the gguf package).
"""

from __future__ import annotations

import shlex
from typing import Any

from canserve.deploy.commands import Deployment, engine_image, vllm_command
from canserve.deploy.weights import MODEL_DIR

GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}

__all__ = ["kubernetes_manifest"]


def _name(model_id: str) -> str:
    base = model_id.split("/")[-1].lower()
    return "".join(c if c.isalnum() else "-" for c in base).strip("-")[:50] or "llm"


def kubernetes_manifest(d: Deployment) -> str:
    import yaml

    name = _name(d.model_id)
    gpus = d.gpus_per_replica
    resource = GPU_RESOURCE.get(d.vendor, "nvidia.com/gpu")
    command = vllm_command(d).splitlines()[-1]

    def probe() -> dict[str, Any]:  # a fresh dict each time: no YAML anchors in the output
        return {"httpGet": {"path": "/health", "port": d.port}, "periodSeconds": 10}

    container: dict[str, Any] = {
        "name": "vllm",
        "image": engine_image("vllm", d.vendor),
        "command": shlex.split(command),
        "ports": [{"containerPort": d.port, "name": "http"}],
        "resources": {"limits": {resource: gpus}, "requests": {resource: gpus}},
        "readinessProbe": {**probe(), "initialDelaySeconds": 60, "failureThreshold": 3},
        "livenessProbe": {**probe(), "initialDelaySeconds": 600, "failureThreshold": 6},
        "startupProbe": {**probe(), "failureThreshold": 120},
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
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}
    ]
    if d.weights.local:
        container["volumeMounts"].append({"name": "model-weights", "mountPath": MODEL_DIR})
        volumes.append(
            {"name": "model-weights", "persistentVolumeClaim": {"claimName": "model-weights"}}
        )
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
                    "volumes": volumes,
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
