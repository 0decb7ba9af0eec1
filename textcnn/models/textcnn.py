"""Kim (2014) TextCNN: word embeddings in one or two channels, a 1-d convolution bank, a head.

Embedding modes:
- ``rand``: one trained table initialised U(-0.25, 0.25);
- ``static``: the pretrained table, frozen;
- ``non-static``: the pretrained table fine-tuned for the training vocabulary; words the
  training data never showed keep their pretrained (frozen) vectors;
- ``multichannel``: a frozen and a fine-tuned copy side by side, every filter sees both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from textcnn.models.blocks import Classifier, ClassifierHead, ConvBank1d
from textcnn.models.registry import register_model

MODES = ("rand", "static", "non-static", "multichannel")
PAD_ID = 0


@dataclass
class TextCNNConfig:
    vocab_size: int
    num_classes: int
    mode: str = "rand"
    dim: int = 300
    trained_vocab_size: int | None = None
    filter_widths: tuple[int, ...] = (3, 4, 5)
    feature_maps: int = 100
    dropout: float = 0.5
    max_norm: float | None = 3.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        self.filter_widths = tuple(self.filter_widths)
        if self.trained_vocab_size is None:
            self.trained_vocab_size = self.vocab_size


class TextEncoder(nn.Module):
    """Token ids ``[B, T]`` (0 = padding, at the end) to pooled features ``[B, maps*widths]``."""

    def __init__(self, cfg: TextCNNConfig) -> None:
        super().__init__()
        self.mode = cfg.mode
        self.trained_vocab_size = cfg.trained_vocab_size
        if cfg.mode != "rand":
            self.static = nn.Embedding(cfg.vocab_size, cfg.dim, padding_idx=PAD_ID)
            self.static.weight.requires_grad_(False)
        if cfg.mode != "static":
            rows = cfg.vocab_size if cfg.mode == "rand" else cfg.trained_vocab_size
            self.tuned = nn.Embedding(rows, cfg.dim, padding_idx=PAD_ID)
            nn.init.uniform_(self.tuned.weight, -0.25, 0.25)
            with torch.no_grad():
                self.tuned.weight[PAD_ID].zero_()
        channels = 2 if cfg.mode == "multichannel" else 1
        self.convs = ConvBank1d(channels * cfg.dim, cfg.filter_widths, cfg.feature_maps)
        self.out_features = self.convs.out_features

    def load_pretrained(self, vectors: torch.Tensor) -> None:
        """Initialise from a ``[vocab_size, dim]`` table (pretrained rows, random for the rest)."""
        with torch.no_grad():
            vectors = vectors.clone()
            vectors[PAD_ID] = 0
            if hasattr(self, "static"):
                self.static.weight.copy_(vectors)
            if hasattr(self, "tuned"):
                self.tuned.weight.copy_(vectors[: self.tuned.num_embeddings])

    def sparse_grads(self, enabled: bool = True) -> None:
        """Give the trained table sparse row gradients (for an optimizer that updates lazily)."""
        if hasattr(self, "tuned"):
            self.tuned.sparse = enabled

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Embedded channels concatenated along features: ``[B, T, channels*dim]``."""
        if self.mode == "rand":
            return self.tuned(ids)
        if self.mode == "static":
            return self.static(ids)
        rows = self.tuned.num_embeddings
        eager_cpu = ids.device.type == "cpu" and not torch.compiler.is_compiling()
        if eager_cpu and ids.numel() and int(ids.max()) < rows:
            # Only trained words (as in every training batch): nothing frozen to blend in.
            # A shortcut for eager CPU only: a traced graph (ONNX export) takes the general path.
            tuned = self.tuned(ids)
            if self.mode == "multichannel":
                return torch.cat([self.static(ids), tuned], dim=-1)
            return tuned
        frozen = self.static(ids)
        tuned = self.tuned(ids.clamp(max=rows - 1))
        tuned = torch.where((ids < rows)[..., None], tuned, frozen)
        return torch.cat([frozen, tuned], dim=-1) if self.mode == "multichannel" else tuned

    def feature_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Per-width masked feature maps before pooling (for explanations)."""
        lengths = (ids != PAD_ID).sum(dim=1).clamp(min=1)
        return self.convs.feature_maps(self.embed(ids).transpose(1, 2), lengths)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != PAD_ID).sum(dim=1).clamp(min=1)
        return self.convs(self.embed(ids).transpose(1, 2), lengths)


@register_model("textcnn", modality="text", config=TextCNNConfig)
def textcnn(cfg: TextCNNConfig) -> Classifier:
    encoder = TextEncoder(cfg)
    return Classifier(
        encoder, ClassifierHead(encoder.out_features, cfg.num_classes, cfg.dropout, cfg.max_norm)
    )
