"""Benchmark of the sentiment scorer: N realistic FX posts and headlines on CPU.

The model has FinBERT's architecture (BERT-base: 12 layers, hidden 768, 12 heads, 3 labels,
FinBERT's id2label), random weights built here and saved to a temporary folder, then loaded
through the same path as production (`underdog.sentiment.scoring.finbert.load_finbert`). The texts
are the bundled sample's (written for the project; about 50 tokens, some near 150).

Side by side, on the same texts and threads, each measured warm (after one small call):
- naive: a transformers `pipeline("text-classification")` called once per post;
- ours: `FinBertScorer.score(texts)`: length-sorted, dynamically padded, token-budget
  batches under `torch.inference_mode`, int8 dynamic quantization unless --fp32; the fp32
  timing is reported too.
Last line of output: one JSON object (posts, ours_s, naive_s, speedup, threads, ...).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    pipeline,
)

from underdog.sentiment.scoring.finbert import MAX_TOKENS, load_finbert, usable_cores  # noqa: E402
from underdog.sources.fixture_news import fetch_sample  # noqa: E402

FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}
VOCAB_SIZE = 30522  # bert-base-uncased's; the sample's words first, then unused slots
TARGET_S = 2.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def texts(n: int) -> list[str]:
    """The first n distinct texts of the sample (repeated in order if n is larger)."""
    from datetime import UTC, datetime

    unique = list(dict.fromkeys(d.text for d in fetch_sample(datetime(2024, 3, 1, tzinfo=UTC),
                                                              datetime(2024, 4, 1, tzinfo=UTC))))
    return [unique[i % len(unique)] for i in range(n)]


def vocabulary(sample: list[str]) -> list[str]:
    import re

    words = sorted({w for t in sample for w in re.findall(r"[a-z]+", t.lower())})
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789")
    # Numbers as bert-base-uncased splits them: "1.0949" -> 1 . 09 ##49.
    digits = [f"{n}" for n in range(100)] + [f"{n:02d}" for n in range(10)]
    pieces = [f"##{n:02d}" for n in range(100)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *chars,
             *(f"##{c}" for c in chars), *".,;:!?'\"()[]/-%$&+=*#@", *digits, *pieces]
    vocab = list(dict.fromkeys(vocab))
    return vocab + [f"[unused{i}]" for i in range(VOCAB_SIZE - len(vocab))]


def build_model(folder: Path, sample: list[str]) -> None:
    vocab = vocabulary(sample)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), num_labels=3, id2label=FINBERT_LABELS,
                        label2id={v: k for k, v in FINBERT_LABELS.items()})
    BertForSequenceClassification(config).eval().save_pretrained(folder)


def timed(fn) -> tuple[float, object]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--fp32", action="store_true", help="ours without int8 quantization")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sample = texts(args.posts)
    with tempfile.TemporaryDirectory(prefix="bench-finbert-") as tmp:
        folder = Path(tmp)
        log(f"building a BERT-base classifier (random weights) in {folder}")
        build_model(folder, sample)
        fp32 = load_finbert(str(folder))
        int8 = load_finbert(str(folder), quantize=True)
        tokens = [len(x) for x in fp32.tokenizer(sample, truncation=True,
                                                  max_length=MAX_TOKENS)["input_ids"]]
        log(f"{len(sample)} texts, {np.mean(tokens):.0f} tokens on average, max {max(tokens)};"
            f" {torch.get_num_threads()} threads")
        naive = pipeline("text-classification", model=fp32.model, tokenizer=fp32.tokenizer,
                         top_k=None, truncation=True, max_length=MAX_TOKENS)
        for warm in (lambda: naive(sample[0]), lambda: fp32.score(sample[:2]),
                     lambda: int8.score(sample[:2])):
            warm()
        ours_fp32_s, fp32_scores = timed(lambda: fp32.score(sample))
        log(f"ours fp32: {ours_fp32_s:.2f} s")
        ours_int8_s, int8_scores = timed(lambda: int8.score(sample))
        log(f"ours int8: {ours_int8_s:.2f} s")
        naive_s, naive_out = timed(lambda: [naive(t) for t in sample])
        log(f"naive pipeline, one post per call: {naive_s:.2f} s")
    naive_labels = [max(out[0], key=lambda r: r["score"])["label"] for out in naive_out]
    ours_s = ours_fp32_s if args.fp32 else ours_int8_s
    result = {
        "posts": len(sample), "ours_s": round(ours_s, 3), "naive_s": round(naive_s, 3),
        "speedup": round(naive_s / ours_s, 2), "threads": torch.get_num_threads(),
        "quantized": not args.fp32, "ours_fp32_s": round(ours_fp32_s, 3),
        "ours_int8_s": round(ours_int8_s, 3), "speedup_fp32": round(naive_s / ours_fp32_s, 2),
        "mean_tokens": round(float(np.mean(tokens)), 1), "max_tokens": int(max(tokens)),
        "fp32_labels_equal_naive": [s.label for s in fp32_scores] == naive_labels,
        "int8_label_agreement": round(float(np.mean(
            [a.label == b.label for a, b in zip(fp32_scores, int8_scores, strict=True)])), 3),
        "target_s": TARGET_S, "meets_target": ours_s <= TARGET_S,
        "cores": usable_cores(), "cpu": platform.processor() or platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
