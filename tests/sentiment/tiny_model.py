"""Test support: a small random BERT sentiment classifier saved the way FinBERT is published
(config.json + weights + vocab.txt + tokenizer_config.json), to load through the real
AutoTokenizer / AutoModelForSequenceClassification path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

from underdog.sources.fixture_news import PATH as SAMPLE

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order


def sample_texts() -> list[str]:
    return [f"{i['title']}. {i['body']}" for i in json.loads(SAMPLE.read_text())["items"]]


def vocabulary() -> list[str]:
    """The sample's words, then WordPiece pieces for anything else."""
    words = sorted(set(re.findall(r"[a-z]+", SAMPLE.read_text().lower())))
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789")
    punctuation = list(".,;:!?'\"()[]/-%$&+=*#@")
    return [*SPECIAL, *words, *chars, *(f"##{c}" for c in chars), *punctuation]


def build(folder: Path, *, id2label: dict[int, str] = FINBERT_LABELS, layers: int = 2,
          hidden: int = 32, seed: int = 0, spread: float = 8.0) -> Path:
    """Save a random classifier to `folder` whose labels depend on the words of a text."""
    vocab = vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=512, num_labels=len(id2label),
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(config).eval()
    _word_sensitive(model, BertTokenizer(vocab=str(folder / "vocab.txt")), spread)
    model.save_pretrained(folder)
    return folder


def _word_sensitive(model: BertForSequenceClassification, tokenizer: BertTokenizer,
                    spread: float) -> None:
    """A freshly initialised BERT pools every text to nearly the same vector (its output
    hardly depends on the input), so every text would get one label and any rounding could
    flip it. Here attention is uniform (zero query/key) over strong word embeddings with
    strong value/output projections: each position sees the text's bag of words. The head is
    centred on the sample and scaled to `spread`, so labels vary and are mostly decisive."""
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.normal_(0.0, 1.0)
        for layer in model.bert.encoder.layer:
            layer.attention.self.query.weight.zero_()
            layer.attention.self.key.weight.zero_()
            layer.attention.self.value.weight.mul_(20.0)
            layer.attention.output.dense.weight.mul_(20.0)
        encoded = tokenizer(sample_texts(), padding=True, truncation=True, max_length=256,
                            return_tensors="pt")
        pooled = model.bert(**encoded).pooler_output
        centre = pooled.mean(dim=0)
        scale = spread / (pooled - centre).norm(dim=1).mean() / pooled.shape[1] ** 0.5
        weight = torch.randn_like(model.classifier.weight) * scale
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(-(weight @ centre))
