"""The console's small text helpers."""


def test_plural():
    from c2fbench.console import plural

    assert [plural(1, "class"), plural(3, "class"), plural(1, "round"), plural(0, "round")] == \
        ["1 class", "3 classes", "1 round", "0 rounds"]
