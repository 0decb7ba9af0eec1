from textcnn.text.tokenize import char_tokens, clean_str, kim_tokens


def test_clitics_are_split_off() -> None:
    assert kim_tokens("It's good, isn't it? We'll see") == [
        "it",
        "'s",
        "good",
        ",",
        "is",
        "n't",
        "it",
        "?",
        "we",
        "'ll",
        "see",
    ]


def test_punctuation_gets_no_stray_backslashes() -> None:
    assert clean_str("Great (really)!? Yes") == "great ( really ) ! ? yes"
    assert "\\" not in clean_str("(a) (b)? c")


def test_non_ascii_and_symbols_become_spaces() -> None:
    assert kim_tokens("café — 100% *fun*") == ["caf", "100", "fun"]


def test_case_is_kept_on_request() -> None:
    assert kim_tokens("What IS it", lowercase=False) == ["What", "IS", "it"]


def test_char_tokenizer_splits_cjk_and_drops_spaces() -> None:
    assert char_tokens("我喜欢 这部电影") == ["我", "喜", "欢", "这", "部", "电", "影"]
    assert char_tokens("映画 OK") == ["映", "画", "o", "k"]


def test_empty_text_gives_no_tokens() -> None:
    assert kim_tokens("  ") == []
    assert kim_tokens("@@@") == []
