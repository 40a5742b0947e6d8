"""FinBERT (ProsusAI/finbert, or any BERT-style 3-class sentiment model) on CPU, fast.

Loaded once per process (`load_finbert` is cached), through the ordinary transformers path:
AutoTokenizer / AutoModelForSequenceClassification.from_pretrained(a hub id or a folder).

Why it is fast:
- texts are tokenized once, without padding, then sorted by length, so each batch holds
  texts of similar length and is padded only to its own longest (dynamic padding);
- batches are sized by a token budget (many short headlines or a few long posts);
- `torch.inference_mode` (no autograd bookkeeping), intra-op threads = the usable cores;
- optional int8 dynamic quantization of the Linear layers (most of BERT's time).
Results come back in the input order; batching never changes a text's result beyond float
rounding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from underdog.sentiment.scoring.rules import Score, from_probabilities, label_index

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # headlines and posts; longer texts are cut (FinBERT's limit is 512)
# Padded tokens per forward pass: on a 2-core AVX2 CPU, BERT-base ran 256-768 equally fast
# and 2048 about 30% slower (working set past the caches, more padding).
BATCH_TOKENS = 512
MAX_BATCH = 16


class ModelUnavailable(RuntimeError):
    """The model could not be loaded (no such folder, hub unreachable, not a 3-class model)."""


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class FinBertScorer:
    """A loaded sequence classifier; `score(texts)` gives one Score per text, in order."""

    def __init__(self, tokenizer, model: torch.nn.Module, model_id: str) -> None:
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.model_id = model_id
        self.index = label_index(model.config.id2label)
        self.pad_id = tokenizer.pad_token_id or 0

    def score(self, texts: Sequence[str]) -> list[Score]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), truncation=True, max_length=MAX_TOKENS,
                             padding=False)["input_ids"]
        lengths = np.array([len(x) for x in ids])
        probabilities = np.empty((len(ids), self.model.config.num_labels))
        for batch in batches(lengths):
            probabilities[batch] = self._forward([ids[i] for i in batch])
        return from_probabilities(probabilities, self.index, self.model_id)

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, tokens in enumerate(ids):
            input_ids[row, :len(tokens)] = torch.tensor(tokens)
            mask[row, :len(tokens)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits
        return torch.softmax(logits.float(), dim=-1).numpy()


def batches(lengths: np.ndarray, *, budget: int = BATCH_TOKENS,
            max_items: int = MAX_BATCH) -> list[np.ndarray]:
    """Indices grouped shortest first, each group's padded size (n x longest) within budget."""
    order = np.argsort(lengths, kind="stable")
    groups, current = [], []
    for i in order:
        if current and ((len(current) + 1) * lengths[i] > budget or len(current) == max_items):
            groups.append(np.array(current))
            current = []
        current.append(i)
    if current:
        groups.append(np.array(current))
    return groups


@lru_cache(maxsize=4)
def load_finbert(model: str, *, quantize: bool = False) -> FinBertScorer:
    """The model `model` (hub id or folder) ready to score; loaded once per process."""
    torch.set_num_threads(usable_cores())
    source = _resolve(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        network = AutoModelForSequenceClassification.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{model}: {exc}") from exc
    network.eval()
    model_id = f"{_name(model)}@{_revision(network, source)}"
    if quantize:
        network, model_id = _quantized(network), model_id + "+int8"
    try:
        return FinBertScorer(tokenizer, network, model_id)
    except ValueError as exc:  # no positive/negative/neutral in id2label
        raise ModelUnavailable(f"{model}: {exc}") from exc


def _is_path(model: str) -> bool:
    return model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir()


def _resolve(model: str) -> str:
    """A folder, a hub id already in the local cache, or a hub id when the hub is reachable:
    without a network, fail in milliseconds instead of a minute of retries."""
    if _is_path(model):
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise ModelUnavailable(f"{model}: no such folder")
        return str(folder)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model, local_files_only=True)
    except Exception as exc:  # not cached: whichever of the hub's lookup errors
        log.debug("%s is not in the local cache: %s", model, exc)
    if not _hub_reachable():
        raise ModelUnavailable(f"{model}: not in the local cache and the hub is unreachable")
    return model


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return True  # only the proxy knows: let transformers try
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443),
                                 timeout=timeout_s).close()
    except OSError:
        return False
    return True


def _name(model: str) -> str:
    return Path(model).expanduser().name if _is_path(model) else model


def _revision(network: torch.nn.Module, source: str) -> str:
    """The hub commit the weights came from, else a digest of the folder's weight files."""
    commit = getattr(network.config, "_commit_hash", None)
    if commit:
        return commit[:12]
    digest = hashlib.sha256()
    for path in sorted(Path(source).glob("*.safetensors")) + sorted(Path(source).glob("*.bin")):
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return "sha256:" + digest.hexdigest()[:12]


def _quantized(network: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantization of the Linear layers (weights int8, activations per batch)."""
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated for torchao, which is not a dependency here.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8)
