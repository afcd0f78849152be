import pytest

from canserve.units import GB, GIB, format_bytes, gb, gib


def test_decimal_and_binary():
    assert GB == 10**9 and GIB == 2**30
    assert gb(80e9) == 80 and gib(2**31) == 2


def test_format_always_names_the_unit():
    assert format_bytes(80e9) == "80.00 GB"
    assert format_bytes(2**30, "GiB") == "1.00 GiB"
    with pytest.raises(ValueError):
        format_bytes(1, "gigs")
