import pytest
import torch

from textcnn.engine.trainer import Split, TrainConfig, fit
from textcnn.models import Classifier, create_model, list_models
from textcnn.models.blocks import ConvBank1d, MatmulConvBank1d
from textcnn.models.sentence_term import SentenceTerm
from textcnn.models.textcnn import MODES, TextCNNConfig, TokenTableEncoder, table_bytes

VOCAB, TRAINED, DIM, CLASSES = 40, 30, 12, 3


def make(mode: str, **kwargs: object) -> Classifier:
    torch.manual_seed(0)
    model = create_model(
        "textcnn",
        vocab_size=VOCAB,
        trained_vocab_size=TRAINED,
        num_classes=CLASSES,
        mode=mode,
        dim=DIM,
        feature_maps=8,
        **kwargs,
    )
    if mode != "rand":
        model.encoder.load_pretrained(torch.randn(VOCAB, DIM))
    return model.eval()


def test_textcnn_is_registered_as_a_text_model() -> None:
    assert "textcnn" in list_models("text")


@pytest.mark.parametrize("mode", MODES)
def test_output_shape_and_feature_size(mode: str) -> None:
    model = make(mode)
    ids = torch.randint(1, VOCAB, (5, 9))
    assert model(ids).shape == (5, CLASSES)
    assert model.encoder.out_features == 3 * 8


@pytest.mark.parametrize("mode", MODES)
def test_padding_does_not_change_a_prediction(mode: str) -> None:
    model = make(mode)
    ids = torch.randint(1, VOCAB, (4, 7))
    ids[1, 3:] = 0
    padded = torch.cat([ids, torch.zeros(4, 20, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(ids), model(padded))


@pytest.mark.parametrize("length", [0, 1, 2])
def test_inputs_shorter_than_the_widest_filter_still_classify(length: int) -> None:
    model = make("rand")
    ids = torch.zeros(1, max(length, 1), dtype=torch.long)
    ids[0, :length] = 5
    logits = model(ids)
    assert torch.isfinite(logits).all()
    assert logits.shape == (1, CLASSES)


def test_unseen_pretrained_words_use_their_frozen_vectors() -> None:
    model = make("non-static")
    with torch.no_grad():
        model.encoder.tuned.weight.add_(1.0)
    ids = torch.tensor([[TRAINED - 1, TRAINED + 3]])
    embedded = model.encoder.embed(ids)[0]
    static = model.encoder.static.weight
    assert torch.equal(embedded[1], static[TRAINED + 3])
    assert not torch.equal(embedded[0], static[TRAINED - 1])


def test_multichannel_stacks_frozen_and_tuned_channels() -> None:
    model = make("multichannel")
    assert model.encoder.embed(torch.tensor([[3, 4]])).shape == (1, 2, 2 * DIM)


def toy_split(n: int = 60) -> Split:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(2, TRAINED, (n, 8), generator=g)
    y = (x[:, 0] % CLASSES).long()
    return Split(x, y)


def test_max_norm_holds_after_every_step() -> None:
    model = make("rand", max_norm=0.5)
    before: list[float] = []
    after: list[float] = []
    renorm = model.head.apply_max_norm

    def recorded() -> None:
        before.append(row_norm(model))
        renorm()
        after.append(row_norm(model))

    model.head.apply_max_norm = recorded
    cfg = TrainConfig(epochs=3, batch_size=10, lr=5.0, progress=False, device="cpu")
    fit(model, toy_split(), None, cfg)
    assert len(after) == 3 * 6
    assert max(before) > 0.5, "the test must push norms past the limit"
    assert max(after) <= 0.5 + 1e-5


def row_norm(model: Classifier) -> float:
    return model.head.linear.weight.norm(dim=1).max().item()


def test_static_channel_is_frozen_while_the_tuned_one_moves() -> None:
    model = make("multichannel")
    static_before = model.encoder.static.weight.clone()
    tuned_before = model.encoder.tuned.weight.clone()
    cfg = TrainConfig(epochs=2, batch_size=10, progress=False, device="cpu")
    fit(model, toy_split(), toy_split(20), cfg)
    assert torch.equal(model.encoder.static.weight, static_before)
    assert not torch.equal(model.encoder.tuned.weight, tuned_before)
    assert torch.equal(model.encoder.tuned.weight[0], torch.zeros(DIM)), "PAD stays zero"


def test_config_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        TextCNNConfig(vocab_size=5, num_classes=2, mode="dynamic")


def test_ngram_features_skip_padding_unknown_and_pretrained_only_words() -> None:
    model = make("rand", ngram_buckets=7)
    ids = torch.tensor([[2, 3, 1, 4, 35, 5, 6, 0]])  # 1: unknown, 35: pretrained only
    features = model.side.features(ids)[0].tolist()
    assert features[:8] == [2, 3, 0, 4, 0, 5, 6, 0]
    pairs = features[8:]
    assert pairs[0] == TRAINED + (2 * 1_000_003 + 3) % 7 and pairs[5] > 0
    assert [pairs[i] for i in (1, 2, 3, 4, 6)] == [0, 0, 0, 0, 0]  # a pair with a skipped word
    assert all(TRAINED <= p < TRAINED + 7 for p in pairs if p)


def test_ngram_scores_add_to_the_logits_and_ignore_padding() -> None:
    model = make("rand", ngram_buckets=11)
    ids = torch.tensor([[2, 3, 4, 0, 0], [5, 5, 0, 0, 0]])
    cnn = model(ids)
    feats = torch.tensor([2, 3, 4, TRAINED + (2 * 1_000_003 + 3) % 11])
    scores = torch.arange(4 * CLASSES, dtype=torch.float).view(4, CLASSES)
    model.side.set_scores(feats, scores, torch.tensor([1.0, 0.0, -1.0]))
    torch.testing.assert_close(model(ids), cnn)  # weight 0: the CNN alone
    model.side.weight.fill_(0.5)
    expected = cnn.clone()
    expected[0] += 0.5 * (scores.sum(0) + torch.tensor([1.0, 0.0, -1.0]))
    expected[1] += 0.5 * torch.tensor([1.0, 0.0, -1.0])  # word 5 has no row
    torch.testing.assert_close(model(ids), expected)
    padded = torch.cat([ids, torch.zeros(2, 6, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded), expected)
    assert model.side.table.shape == (5, CLASSES) and int(model.side.index.max()) == 4


@pytest.mark.parametrize("widths", [(3, 4, 5), (1,), (5, 2), (1, 3, 5)])
def test_the_matrix_product_form_of_a_conv_bank_gives_its_features(widths) -> None:
    # the int8 export's form (``MatmulConvBank1d``): every width, padding, a row of one token
    torch.manual_seed(0)
    bank = ConvBank1d(7, widths, 6).eval()
    x = torch.randn(5, 7, 9)
    lengths = torch.tensor([9, 4, 1, 6, 2])
    for row, length in enumerate(lengths):
        x[row, :, length:] = 0  # text padding embeds to zero
    with torch.no_grad():
        expected = bank(x, lengths)
        torch.testing.assert_close(MatmulConvBank1d(bank)(x, lengths), expected)
        full = torch.full((5,), 9)  # no padding: the bank's unmasked path
        torch.testing.assert_close(MatmulConvBank1d(bank)(x, full), bank(x, full))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("widths", [(3, 4, 5), (1,), (5, 2)])
def test_the_token_table_form_of_an_encoder_gives_its_features(mode: str, widths) -> None:
    # the service's fast form (``TokenTableEncoder``): every mode and width, trained and
    # pretrained-only words, padding, a row of one token
    model = make(mode, filter_widths=widths)
    encoder = model.encoder
    if mode != "static":
        with torch.no_grad():  # trained rows differ from their pretrained ones
            encoder.tuned.weight[1:].add_(0.5)
    ids = torch.randint(1, VOCAB, (5, 9), generator=torch.Generator().manual_seed(0))
    for row, length in enumerate([9, 4, 1, 6, 2]):
        ids[row, length:] = 0
    ids[0, :3] = torch.tensor([TRAINED - 1, TRAINED, VOCAB - 1])
    table = TokenTableEncoder(encoder).eval()
    assert table.table.numel() * 4 == table_bytes(encoder)
    with torch.no_grad():
        torch.testing.assert_close(table(ids), encoder(ids))
        torch.testing.assert_close(table(ids[:, :1]), encoder(ids[:, :1]))


def test_the_sentence_term_is_the_classifiers_declared_input_term() -> None:
    """``sentence_encoder`` fills the ``input_term`` slot (the network's forward leaves it out);
    a bundle saved when the term's buffers were keyed ``sentence.`` still loads."""
    model = make("rand", sentence_encoder="minilm")
    plain = make("rand")
    assert isinstance(model.input_term, SentenceTerm) and plain.input_term is None
    ids = torch.randint(1, VOCAB, (4, 7))
    torch.testing.assert_close(model(ids), plain(ids))
    model.input_term.gate.fill_(0.9)
    legacy = {k.replace("input_term.", "sentence.", 1): v for k, v in model.state_dict().items()}
    assert "sentence.gate" in legacy
    fresh = make("rand", sentence_encoder="minilm")
    fresh.load_state_dict(legacy, strict=True)
    assert float(fresh.input_term.gate) == pytest.approx(0.9)
