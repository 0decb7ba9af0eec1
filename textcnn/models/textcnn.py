"""Kim (2014) TextCNN: word embeddings in one or two channels, a 1-d convolution bank, a head.

Embedding modes:
- ``rand``: one trained table initialised U(-0.25, 0.25);
- ``static``: the pretrained table, frozen;
- ``non-static``: the pretrained table fine-tuned for the training vocabulary; words the
  training data never showed keep their pretrained (frozen) vectors;
- ``multichannel``: a frozen and a fine-tuned copy side by side, every filter sees both.

With ``ngram_buckets`` the network also carries ``NgramScores`` (as the classifier's ``side``),
a linear model of the text's word uni- and bigrams whose class scores are added to the CNN's
logits. With ``sentence_encoder`` it also carries a ``SentenceTerm`` (as its ``input_term``),
which needs the raw text: ``Predictor`` adds it, the network's forward does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from textcnn.models.blocks import (
    Classifier,
    ClassifierHead,
    ConvBank1d,
    MatmulConvBank1d,
    eager_cpu,
    pool_windows,
)
from textcnn.models.registry import register_model
from textcnn.models.sentence_term import SentenceTerm
from textcnn.models.token_ids import PAD_ID, UNK_ID

MODES = ("rand", "static", "non-static", "multichannel")
BIGRAM_HASH = 1_000_003  # above any training vocabulary's size: a*H + b is one-to-one on id pairs


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
    ngram_buckets: int = 0  # hash buckets of word pairs in ``NgramScores``; 0: no such scores
    ngram_rows: int = 1  # rows of its table: the features seen in training, and a zero row
    sentence_encoder: str | None = None  # ``SentenceTerm``'s encoder; None: no such term
    sentence_runtime: str = "onnx"  # its runtime: onnx (float32) or onnx-int8

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
        if eager_cpu(ids) and ids.numel() and int(ids.max()) < rows:
            # Only trained words (as in every training batch): nothing frozen to blend in.
            # A shortcut with the same result, taken where reading a value back is cheap.
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


class TokenTableEncoder(nn.Module):
    """A ``TextEncoder`` with its embeddings folded into its convolutions: a table of each
    token's response to each filter tap, so that a window's pre-activations are the sum of
    ``span`` rows looked up, where the convolution multiplies the whole embedded window.

    Why: on a CPU the sum costs ``span`` additions per output where the convolution costs
    ``span x channels`` multiply-adds (114 channels in the default recipe): the default
    recipe's MR model ran 35-text batches 4.5x faster in ONNX Runtime. The price is memory,
    ``table_bytes``: 162 MiB for that model, against 37 MiB of embeddings. In float32 the two
    forms agree to rounding. Built from a trained encoder, for export only.
    """

    def __init__(self, encoder: TextEncoder) -> None:
        super().__init__()
        bank = MatmulConvBank1d(encoder.convs)  # its taps' layout: windows of the widest width
        self.widths, self.span = bank.widths, bank.span
        vocab = table_rows(encoder) - 1  # ids 0 (padding) to vocab - 1
        self.rows = vocab + 1  # and one zero row: the convolutions' own padding, id ``vocab``
        with torch.no_grad():
            embedded = encoder.embed(torch.arange(vocab)[None])[0]  # [vocab, C]
            embedded = F.pad(embedded, (0, 0, 0, 1))
            taps = bank.weight.unflatten(0, (self.span, -1))  # [span, C, widths*maps]
            table = torch.einsum("vc,scm->svm", embedded, taps)
        self.register_buffer("table", table.flatten(0, 1).contiguous())  # row tap*rows + id
        self.register_buffer("bias", bank.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids ``[B, T]`` to ``[B, maps*widths]``, as ``TextEncoder.forward``."""
        lengths = (ids != PAD_ID).sum(dim=1).clamp(min=1)
        k = self.span
        padded = F.pad(ids, (k - 1, k - 1), value=self.rows - 1)  # the zero row
        steps = ids.shape[1] + k - 1
        windows = torch.stack(
            [padded[:, tap : tap + steps] + tap * self.rows for tap in range(k)], dim=2
        )
        h = F.embedding(windows, self.table).sum(dim=2)  # [B, steps, widths*maps]
        return pool_windows(h, lengths, self.widths, self.bias)


def table_rows(encoder: TextEncoder) -> int:
    """Rows of each tap's part of a token table: every id the encoder embeds, and a zero row."""
    table = encoder.static if hasattr(encoder, "static") else encoder.tuned
    return table.num_embeddings + 1


def table_bytes(encoder: TextEncoder) -> int:
    """Memory a ``TokenTableEncoder`` of ``encoder`` takes (float32)."""
    bank = encoder.convs
    return table_rows(encoder) * max(bank.widths) * bank.out_features * 4


class NgramScores(nn.Module):
    """Class scores of a text's training words and word pairs: a linear bag-of-n-grams model.

    A feature is a training word, or a pair of adjacent ones hashed into ``buckets``;
    ``index`` maps it to its row of class scores in ``table`` (row 0, all zero, for features
    that have none), so the table holds only the features seen in training. A text scores
    ``weight * (the sum of its features' rows + bias)``. Added to the CNN's logits, that
    multiplies the two models' class probabilities: a linear n-gram model (NBSVM) and the CNN
    err on different texts, and together beat both. Buffers, not parameters: ``text.nbsvm``
    fits them after the CNN has trained, and picks ``weight`` on dev data (0, the CNN alone,
    until then).
    """

    def __init__(self, trained_vocab_size: int, buckets: int, num_classes: int, rows: int) -> None:
        super().__init__()
        self.words, self.buckets = trained_vocab_size, buckets
        self.register_buffer("index", torch.zeros(trained_vocab_size + buckets, dtype=torch.int32))
        self.register_buffer("table", torch.zeros(rows, num_classes))
        self.register_buffer("bias", torch.zeros(num_classes))
        self.register_buffer("weight", torch.zeros(()))

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Features of ids ``[B, T]``: ``[B, 2T - 1]``, words then pairs; feature 0 (no row)
        for padding, unknown and pretrained-only words."""
        known = (ids > UNK_ID) & (ids < self.words)
        words = torch.where(known, ids, 0)
        pairs = (ids[:, :-1] * BIGRAM_HASH + ids[:, 1:]) % self.buckets + self.words
        return torch.cat([words, torch.where(known[:, :-1] & known[:, 1:], pairs, 0)], dim=1)

    @torch.no_grad()
    def set_scores(self, features: torch.Tensor, scores: torch.Tensor, bias: torch.Tensor) -> None:
        """Give ``features`` (distinct, nonzero) the rows ``scores`` ``[len(features), C]``."""
        self.index.zero_()
        self.index[features] = torch.arange(1, len(features) + 1, dtype=torch.int32)
        self.table = torch.cat([torch.zeros(1, scores.shape[1]), scores.float()])
        self.bias.copy_(bias)

    def feature_scores(self, ids: torch.Tensor) -> torch.Tensor:
        """Each feature's row of class scores, unweighted: ``[B, 2T - 1, C]``."""
        return self.table[self.index[self.features(ids)].long()]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight * (self.feature_scores(ids).sum(dim=1) + self.bias)


@register_model("textcnn", modality="text", config=TextCNNConfig)
def textcnn(cfg: TextCNNConfig) -> Classifier:
    encoder = TextEncoder(cfg)
    head = ClassifierHead(encoder.out_features, cfg.num_classes, cfg.dropout, cfg.max_norm)
    ngrams = None
    if cfg.ngram_buckets:
        ngrams = NgramScores(
            cfg.trained_vocab_size, cfg.ngram_buckets, cfg.num_classes, cfg.ngram_rows
        )
    term = None
    if cfg.sentence_encoder:  # a term of the text itself, added by the Predictor
        term = SentenceTerm(cfg.sentence_encoder, cfg.num_classes, cfg.sentence_runtime)
    return Classifier(encoder, head, side=ngrams, input_term=term)
