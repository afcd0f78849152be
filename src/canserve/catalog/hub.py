"""Optional online look-up of a model's config.json on the Hugging Face Hub.

Off by default (canserve needs no network). When asked (``--hub`` or ``hub=True``), the file is
downloaded once by ``huggingface_hub`` into its own cache and read from there afterwards; with
``HF_HUB_OFFLINE=1`` only the cache is used. Requires the ``hub`` extra:
``pip install 'canserve[hub]'``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from canserve.errors import ConfigError, UnknownModelError

__all__ = ["fetch_config"]


def _fetch_quant_config(repo_id: str) -> None:
    """Also fetch ``hf_quant_config.json`` (NVIDIA ModelOpt checkpoints) beside config.json in
    the cache, when the repository has one."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    # most repositories have none (and offline, an uncached one cannot be checked)
    with contextlib.suppress(EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError):
        hf_hub_download(repo_id, "hf_quant_config.json")


def fetch_config(repo_id: str) -> Path:
    """Path of ``config.json`` for ``repo_id`` in the local Hub cache, downloading it if needed
    (with the repository's ``hf_quant_config.json`` when it has one)."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError(
            "Hub look-up needs huggingface_hub: pip install 'canserve[hub]'"
        ) from None
    if repo_id.count("/") != 1:
        raise UnknownModelError(repo_id, (), "a Hub id looks like org/name")
    try:
        path = Path(hf_hub_download(repo_id, "config.json"))
    except LocalEntryNotFoundError:
        raise UnknownModelError(
            repo_id, (), "not in the local Hub cache and the Hub is offline or unreachable"
        ) from None
    except HfHubHTTPError as exc:
        raise UnknownModelError(repo_id, (), f"Hub refused: {str(exc).splitlines()[0]}") from None
    _fetch_quant_config(repo_id)
    return path
