"""ONNX Runtime sessions for the learned counters: checked weights, chosen providers.

Owns opening a model file: its sha256 is compared with the expected one before a byte of
it reaches the runtime (a shipped model always has one; a user's model may), and the
execution providers come from configuration (``cpu``, ``cuda``, ``openvino``), each used
only when the installed ``onnxruntime`` build has it, else the CPU, with a warning.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from video.errors import ModelError

log = logging.getLogger(__name__)

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def providers_for(names: Sequence[str]) -> list[str]:
    """The runtime provider names for configured ones, keeping only those installed."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen = []
    for name in names:
        provider = PROVIDERS.get(name.strip().lower())
        if provider is None:
            raise ModelError(f"unknown execution provider {name!r}; choose from "
                             f"{', '.join(PROVIDERS)}")
        if provider in available:
            chosen.append(provider)
        else:
            log.warning("execution provider %s is not in this onnxruntime build; skipped", name)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def open_session(path: Path, sha256: str | None, providers: Sequence[str] = ("cpu",),
                 threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``path``; ``ModelError`` when the file is
    missing, its sha256 differs from ``sha256`` or the runtime refuses it. One intra-op
    thread by default: a camera is one thread of the analyser, and cameras scale by
    processes, not by threads fighting over the same cores."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if sha256 is not None and (actual := sha256_of(path)) != sha256.lower():
        raise ModelError(f"model file {path} has sha256 {actual}, expected {sha256}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers_for(providers))
    except Exception as exc:  # the runtime raises its own unexported exception types
        raise ModelError(f"onnxruntime cannot load {path}: {exc}") from exc
