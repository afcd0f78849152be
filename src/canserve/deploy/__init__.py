"""Deployable output: serving commands per engine and a Kubernetes manifest."""

from canserve.deploy.commands import Deployment, engine_commands, engine_versions, vllm_command
from canserve.deploy.k8s import kubernetes_manifest

__all__ = [
    "Deployment",
    "engine_commands",
    "engine_versions",
    "kubernetes_manifest",
    "vllm_command",
]
