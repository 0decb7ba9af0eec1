"""The options of a TextCNN training run: the one place their defaults and help are written."""

from __future__ import annotations

from dataclasses import dataclass, field

from textcnn.engine.config import TrainConfig, option
from textcnn.errors import TextCNNError
from textcnn.models.textcnn import MODES, TextCNNConfig
from textcnn.text.encoder_vectors import DEFAULT_DIM as DEFAULT_ENCODER_DIM
from textcnn.text.sentence_term import ENCODERS as SENTENCE_ENCODERS
from textcnn.text.tokenize import TOKENIZERS

DISTILLERS = ("sentence-encoder",)  # teachers of --distill: the network with the sentence term
# augmented copies per text with --distill (Tang et al. 2019 use 20; on SST-2 and TREC dev, seed 0,
# 0 to 4 copies are within noise of each other: bench/results/distill_dev.json)
DISTILL_COPIES = 4


def default_training() -> TrainConfig:
    """The default recipe's schedule (``TrainConfig``'s own defaults are Kim's)."""
    return TrainConfig(optimizer="adam", epochs=10, patience=3)


@dataclass
class TextTrainOptions:
    """Vectors, architecture (defaults: ``TextCNNConfig``'s), tokenisation, vocabulary.

    The defaults are the default recipe, chosen on dev data (docs/decisions.md);
    ``textcnn.text.recipes`` holds the others (``kim2014``).
    """

    mode: str = option(
        "non-static", "embedding channels (see docs/training-text.md)", choices=MODES
    )
    embeddings: str | None = option(
        "glove-6b-50d+minilm",
        "word2vec/GloVe file, glove-6b-50d, minilm (distilled from the packaged sentence "
        "encoder) or word2vec-train (learnt from the training text); A+B concatenates sources",
    )
    embeddings_limit: int | None = option(
        None, "read only the first N vectors (of each source; 100000 when combining)"
    )
    pretrained_vocab: int = option(
        50_000, "also keep the N most frequent pretrained words unseen in training"
    )
    encoder_dim: int = option(DEFAULT_ENCODER_DIM, "size of minilm vectors (0: all 384)")
    teacher: str | None = option(
        None,
        "fine-tune this sentence encoder (minilm: the packaged all-MiniLM-L6-v2) on the "
        "training split and train the CNN on its soft labels too; none: no teacher",
        group="teacher",
    )
    teacher_epochs: int = option(1, "teacher fine-tuning passes", group="teacher")
    distill: str | None = option(
        None,
        "first fit the run's recipe with --sentence-encoder minilm on the training split (the "
        "teacher), then train the served network on its soft labels: sentence-encoder; the "
        "student serves at the network's cost, no encoder loaded; none: no distillation",
        group="teacher",
    )
    augment: int | None = option(
        None,
        f"augmented copies of each training text, labelled by the teacher (default: "
        f"{DISTILL_COPIES} with --distill, else 0)",
        group="teacher",
    )
    augment_mask: float = option(
        0.1, "augmented copies: chance of each word being masked", group="teacher", type="fraction"
    )
    augment_window: float = option(
        0.25,
        "augmented copies: chance of keeping only a 1-5 word window",
        group="teacher",
        type="fraction",
    )
    distill_temperature: float = option(
        2.0,  # best on SST-2 and TREC dev of 1, 2, 4, 8 (python -m bench.distill_select --table)
        "--distill: the teacher's logits are divided by this for its soft labels",
        group="teacher",
    )
    dim: int = option(TextCNNConfig.dim, "embedding size in rand mode")
    filter_widths: tuple[int, ...] = option(TextCNNConfig.filter_widths, "convolution widths")
    # 50, not Kim's 100: the same dev accuracy over 3 seeds at 0.7x the time (docs/decisions.md)
    feature_maps: int = option(50, "maps per filter width")
    dropout: float = option(TextCNNConfig.dropout, "dropout before the head")
    ngram_buckets: int = option(
        2**20,
        "hash buckets of word pairs in the n-gram (NBSVM) scores added to the CNN's logits, "
        "their weight chosen on dev data; 0: the CNN alone",
    )
    sentence_encoder: str | None = option(
        None,
        "also add this frozen sentence encoder's view of the texts the network is unsure of "
        "(minilm: the packaged all-MiniLM-L6-v2, with logistic regression), its weight and gate "
        "chosen on dev data: more accurate, but an encoder forward per text it scores (about 7x "
        "the serving cost; docs/training-text.md); none: no such term",
    )
    sentence_int8: bool = option(
        False,
        "with --sentence-encoder: run the encoder as dynamic int8 where the dev accuracy stays "
        "within 0.2 points of float32",
    )
    word_dropout: float = option(0.0, "share of training words replaced by <unk>", type="fraction")
    max_norm: float | None = option(TextCNNConfig.max_norm, "head weight norm cap, <= 0: none")
    tokenizer: str = option("kim", "tokenisation", choices=sorted(TOKENIZERS))
    lowercase: bool = option(True, "do not lowercase", flag="--keep-case")
    max_length: int = option(400, "tokens kept per text")
    min_count: int = option(1, "vocabulary minimum count")
    max_vocab: int | None = option(None, "vocabulary size limit (training words)")
    multi_label: bool = option(
        False,
        "several labels per text, maybe none: a sigmoid per label, binary cross-entropy, "
        "decision thresholds tuned per label on the dev data for F1",
        group="labels",
    )
    threshold: float | None = option(
        None,
        "multi-label: this decision threshold for every label instead of tuned ones",
        group="labels",
        type="fraction",
    )
    dev_fraction: float = 0.1
    train: TrainConfig = field(default_factory=default_training)

    def __post_init__(self) -> None:
        if not self.needs_vectors:
            self.embeddings = None  # learnt from scratch: no vectors are read
        elif not self.embeddings:
            raise TextCNNError(
                f"`mode` {self.mode} needs `embeddings` "
                "(a file, glove-6b-50d, minilm or word2vec-train)"
            )
        if self.ngram_buckets < 0:
            raise TextCNNError("`ngram_buckets` must be >= 0 (0: no n-gram scores)")
        if self.max_norm is not None and self.max_norm <= 0:
            self.max_norm = None
        if self.teacher in ("", "none"):
            self.teacher = None
        if self.sentence_encoder in ("", "none"):
            self.sentence_encoder = None
        if self.sentence_encoder is not None:
            if self.sentence_encoder not in SENTENCE_ENCODERS:
                raise TextCNNError(
                    f"unknown `sentence_encoder` {self.sentence_encoder!r}; one of "
                    f"{', '.join(SENTENCE_ENCODERS)} or none"
                )
            if self.multi_label:
                raise TextCNNError("`sentence_encoder` applies to single-label models only")
        if self.sentence_int8 and self.sentence_encoder is None:
            raise TextCNNError("`sentence_int8` needs a `sentence_encoder`")
        if self.distill in ("", "none"):
            self.distill = None
        if self.distill is not None:
            self._check_distill()
        if self.augment is None:
            self.augment = DISTILL_COPIES if self.distill else 0
        if self.augment < 0:
            raise TextCNNError("`augment` must be >= 0")
        if self.augment and self.teacher is None and self.distill is None:
            raise TextCNNError(
                "`augment` needs a `teacher` or `distill` to label the augmented texts"
            )
        if self.threshold is not None and not self.multi_label:
            raise TextCNNError("`threshold` applies to multi-label models: add `multi_label`")

    def _check_distill(self) -> None:
        if self.distill not in DISTILLERS:
            raise TextCNNError(
                f"unknown `distill` {self.distill!r}; one of {', '.join(DISTILLERS)} or none"
            )
        if self.sentence_encoder is not None or self.teacher is not None:
            raise TextCNNError(
                "`distill` trains a network that serves alone: leave out `sentence_encoder` "
                "and `teacher`"
            )
        if self.multi_label:
            raise TextCNNError("`distill` applies to single-label models only")
        if self.distill_temperature <= 0:
            raise TextCNNError("`distill_temperature` must be > 0")

    @property
    def needs_vectors(self) -> bool:
        """Every mode but ``rand`` starts from pretrained word vectors."""
        return self.mode != "rand"
