"""Deployable output: the weights to serve, serving commands per engine, a Kubernetes manifest."""

from canserve.deploy.commands import (
    Deployment,
    engine_commands,
    engine_image,
    engine_versions,
    vllm_command,
)
from canserve.deploy.k8s import kubernetes_manifest
from canserve.deploy.weights import Weights, resolve_weights

__all__ = [
    "Deployment",
    "Weights",
    "engine_commands",
    "engine_image",
    "engine_versions",
    "kubernetes_manifest",
    "resolve_weights",
    "vllm_command",
]
