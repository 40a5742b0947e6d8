"""The FinBERT scorer on a small random BERT loaded through the real from_pretrained path:
labels from id2label, ranges, batching = one-at-a-time results, quantization agreement."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.sentiment.tiny_model import build
from underdog.sentiment.scoring.finbert import batches, load_finbert, usable_cores
from underdog.sources.fixture_news import fetch_sample

TEXTS = [d.text for d in fetch_sample(datetime(2024, 3, 8, tzinfo=UTC),
                                      datetime(2024, 3, 13, tzinfo=UTC))]


def test_loaded_once_through_from_pretrained_with_its_revision(model_dir: Path) -> None:
    scorer = load_finbert(str(model_dir))
    assert load_finbert(str(model_dir)) is scorer  # once per process
    assert scorer.model_id.startswith(f"{model_dir.name}@sha256:")
    assert scorer.index == {"positive": 0, "negative": 1, "neutral": 2}
    assert torch.get_num_threads() == usable_cores()


def test_scores_are_in_range_and_in_input_order(model_dir: Path) -> None:
    scorer = load_finbert(str(model_dir))
    scores = scorer.score(TEXTS)
    assert len(scores) == len(TEXTS) and scorer.score([]) == []
    assert all(-1 <= s.sentiment <= 1 and 1 / 3 <= s.confidence <= 1 for s in scores)
    assert {s.label for s in scores} <= {"positive", "negative", "neutral"}
    assert len({s.label for s in scores}) == 3  # the test model's labels depend on the text
    reversed_scores = scorer.score(TEXTS[::-1])[::-1]
    assert [s.label for s in reversed_scores] == [s.label for s in scores]


def test_labels_come_from_id2label(tmp_path: Path) -> None:
    folder = build(tmp_path / "permuted", id2label={0: "neutral", 1: "positive", 2: "negative"},
                   seed=3)
    scorer = load_finbert(str(folder))
    text = TEXTS[0]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        p = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0].numpy()
    [score] = scorer.score([text])
    assert score.sentiment == pytest.approx(p[1] - p[2], abs=1e-5)
    assert score.confidence == pytest.approx(p.max(), abs=1e-5)
    assert score.label == model.config.id2label[int(p.argmax())]


def test_batched_results_equal_one_text_at_a_time(model_dir: Path) -> None:
    scorer = load_finbert(str(model_dir))
    texts = TEXTS[::8]
    together = scorer.score(texts)
    alone = [scorer.score([t])[0] for t in texts]
    np.testing.assert_allclose([s.sentiment for s in together], [s.sentiment for s in alone],
                               atol=1e-5)
    assert [s.label for s in together] == [s.label for s in alone]


def test_long_texts_are_truncated_not_rejected(model_dir: Path) -> None:
    [score] = load_finbert(str(model_dir)).score(["euro rises " * 2000])
    assert -1 <= score.sentiment <= 1


def test_batches_group_by_length_within_the_token_budget() -> None:
    lengths = np.array([50, 10, 150, 12, 48, 150, 11, 9])
    groups = batches(lengths, budget=300, max_items=3)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert all(len(g) * lengths[g].max() <= 300 and len(g) <= 3 for g in groups)
    flat = lengths[np.concatenate(groups)]
    assert (np.diff(flat) >= 0).all()  # shortest first: each batch pads little


def test_int8_quantization_agrees_with_fp32_labels(model_dir: Path) -> None:
    """int8 moves probabilities by a few hundredths (activations are quantized per batch, so
    a text's batch mates matter a little): labels change only on near-ties."""
    fp32 = load_finbert(str(model_dir)).score(TEXTS)
    quantized = load_finbert(str(model_dir), quantize=True)
    int8 = quantized.score(TEXTS)
    assert quantized.model_id == load_finbert(str(model_dir)).model_id + "+int8"
    differ = [i for i, (a, b) in enumerate(zip(fp32, int8, strict=True)) if a.label != b.label]
    assert len(differ) <= 0.05 * len(TEXTS)
    probabilities = _probabilities(model_dir, [TEXTS[i] for i in differ])
    margins = np.sort(probabilities, axis=1)[:, -1] - np.sort(probabilities, axis=1)[:, -2]
    assert (margins < 0.1).all()  # each flip was a near-tie in fp32
    drift = np.abs([a.sentiment - b.sentiment for a, b in zip(fp32, int8, strict=True)])
    assert drift.mean() < 0.03 and drift.max() < 0.2


def _probabilities(folder: Path, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, 3))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=256,
                            return_tensors="pt")
        return model(**encoded).logits.softmax(-1).numpy()
