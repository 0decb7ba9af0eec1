"""Every registered modality: its bundles round-trip, warm up and report their limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from service.inputs import model_limits
from service.loader import check_predictor
from service.settings import Settings
from textcnn.engine.bundle import load_bundle
from textcnn.engine.predictor import Predictor
from textcnn.modalities import get_modality, list_modalities


@pytest.mark.parametrize("name", list_modalities())
def test_each_modality_saves_loads_and_warms_up(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bundle = request.getfixturevalue(f"{name}_bundle")  # text_bundle, image_bundle
    modality = get_modality(name)
    assert bundle.modality == name and isinstance(bundle.processor, modality.processor)
    example = [modality.example_input()]
    loaded = load_bundle(bundle.save(tmp_path / name))
    before, after = Predictor(bundle), Predictor(loaded)
    assert torch.equal(before.predict_proba(example), after.predict_proba(example))
    check_predictor(after)
    serving = modality.serving(after)
    batch = serving.collate([serving.encode(example), serving.encode(example)])
    served = [p.label for p in serving.forward(batch)]
    assert served == [p.label for p in after.predict(example * 2)]
    limits = model_limits(modality, loaded.processor, Settings(registry=tmp_path))
    assert limits and all(value is not None for value in limits.values())
