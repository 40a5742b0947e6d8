"""A small random BERT classifier in a folder, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sentiment.tiny_model import build


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("finbert-tiny"))
