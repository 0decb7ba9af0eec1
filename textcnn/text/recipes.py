"""Named text-training recipes: ``default`` (``TextTrainOptions``' own defaults, chosen on dev
data, see docs/decisions.md) and ``kim2014``, Kim's (2014) exact setting.

A recipe is a set of option values; options given explicitly override it.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from textcnn.engine.config import TrainConfig
from textcnn.errors import TextCNNError
from textcnn.text.options import TextTrainOptions, default_training

KIM2014: dict[str, Any] = {
    "mode": "rand",
    "embeddings": None,
    "dim": 300,
    "filter_widths": (3, 4, 5),
    "feature_maps": 100,
    "dropout": 0.5,
    "word_dropout": 0.0,
    "max_norm": 3.0,
    "ngram_buckets": 0,
    "optimizer": "adadelta",
    "lr": None,
    "batch_size": 50,
    "epochs": 25,
    "patience": None,
}
RECIPES: dict[str, dict[str, Any]] = {"default": {}, "kim2014": KIM2014}
RECIPE_KEYS = frozenset().union(*RECIPES.values())  # options whose default depends on the recipe
TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))


def recipe_options(name: str = "default", **overrides: Any) -> TextTrainOptions:
    """``TextTrainOptions`` for recipe ``name`` with ``overrides`` (option or training fields)."""
    if name not in RECIPES:
        raise TextCNNError(f"unknown recipe {name!r}; one of {', '.join(RECIPES)}")
    values = {**RECIPES[name], **overrides}
    train = {k: v for k, v in values.items() if k in TRAIN_FIELDS}
    own = {k: v for k, v in values.items() if k not in TRAIN_FIELDS}
    return TextTrainOptions(**own, train=TrainConfig(**{**asdict(default_training()), **train}))


def recipe_value(name: str, key: str) -> Any:
    """What recipe ``name`` sets ``key`` to (for help texts)."""
    opts = recipe_options(name)
    return getattr(opts.train, key) if key in TRAIN_FIELDS else getattr(opts, key)
