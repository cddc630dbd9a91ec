from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).resolve().parents[2] / "data" / "attribution"


def corpus_labels() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = yaml.safe_load(
        (CORPUS / "labels.yaml").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def corpus() -> Path:
    return CORPUS
