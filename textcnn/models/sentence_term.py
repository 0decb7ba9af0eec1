"""The sentence term: a frozen sentence encoder's view of the whole text, as class scores.

A ``Classifier``'s ``input_term`` for text models trained with ``sentence_encoder``: the
log-probabilities of a logistic regression on the text's sentence embedding, times a weight,
added to the network's logits for the texts the network is unsure of (its top probability
below a gate). The term needs the raw text, so ``Predictor`` adds it; the network's forward
does not.

Only the module lives here, as ``NgramScores`` does: its buffers, log-probabilities and gate.
The embedding comes from the text package, which registers each sentence encoder it provides
(``register_sentence_embedding``) as modalities register their processors with bundles; the
regression and the choice of weight and gate are fitted there (``text.sentence_term``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textcnn.errors import TextCNNError
from textcnn.models.blocks import InputTerm

# (encoder name, texts, runtime) -> [N, dim] embeddings on the CPU
Embed = Callable[[str, Sequence[str], str], torch.Tensor]


@dataclass(frozen=True)
class SentenceEmbedding:
    """One sentence encoder's embedding: its size, and the function that computes it."""

    dim: int
    embed: Embed


_EMBEDDINGS: dict[str, SentenceEmbedding] = {}


def register_sentence_embedding(name: str, dim: int, embed: Embed) -> None:
    """Make the sentence encoder ``name`` (``dim``-d embeddings) available to the term."""
    _EMBEDDINGS[name] = SentenceEmbedding(dim, embed)


def sentence_embedding(name: str) -> SentenceEmbedding:
    if name not in _EMBEDDINGS:
        raise TextCNNError(f"unknown sentence encoder {name!r}; one of {sorted(_EMBEDDINGS)}")
    return _EMBEDDINGS[name]


def routed(
    network: torch.Tensor, gate: torch.Tensor | float, weight: torch.Tensor | float = 1.0
) -> torch.Tensor:
    """``[N]`` booleans: the texts whose network logits' top probability is below ``gate``
    (every text at a gate of 1; none at a weight of 0)."""
    if float(weight) == 0:
        return torch.zeros(len(network), dtype=torch.bool)
    if float(gate) >= 1:
        return torch.ones(len(network), dtype=torch.bool)
    return network.float().softmax(dim=1).amax(dim=1) < float(gate)


class SentenceTerm(InputTerm):
    """``weight * log_softmax(embedding @ coef.T + bias)`` of a text's sentence embedding, for
    the texts whose network top probability is below ``gate`` (0 for the others).

    Buffers, not parameters: ``text.sentence_term`` fits them after the network has trained,
    and picks ``weight`` and ``gate`` on dev data (0, the term left out, until then).
    ``sentence_encoder``: its name; ``runtime``: its runtime, float32 or int8 ONNX.
    """

    def __init__(self, sentence_encoder: str, num_classes: int, runtime: str = "onnx") -> None:
        super().__init__()
        self.sentence_encoder, self.runtime = sentence_encoder, runtime
        dim = sentence_embedding(sentence_encoder).dim
        self.register_buffer("coef", torch.zeros(num_classes, dim))
        self.register_buffer("bias", torch.zeros(num_classes))
        self.register_buffer("weight", torch.zeros(()))
        self.register_buffer("gate", torch.ones(()))

    def log_proba(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The regression's log-probabilities, unweighted: ``[N, classes]``, on the buffers'
        device (the encoder's embeddings come from the CPU; the model may be on a GPU)."""
        return F.log_softmax(embeddings.to(self.coef.device) @ self.coef.T + self.bias, dim=1)

    def forward(self, items: Sequence[str], network: torch.Tensor) -> torch.Tensor:
        """The term for the texts ``items``, given the network's logits for them: only the
        texts it routes (``routed``) are encoded."""
        out = torch.zeros_like(network, dtype=torch.float32)
        rows = torch.nonzero(routed(network, self.gate, self.weight)).flatten().tolist()
        if rows:
            embed = sentence_embedding(self.sentence_encoder).embed
            embeddings = embed(self.sentence_encoder, [items[i] for i in rows], self.runtime)
            out[rows] = (self.weight * self.log_proba(embeddings)).to(out.device)
        return out
