"""commandinfo: the one table of which commands leave state on a connection (redigo's
commandinfo_test.go), every spelling a caller may use."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redigo_py.commandinfo import (
    MONITOR_STATE,
    MULTI_STATE,
    SHARD_SUBSCRIBE_STATE,
    SUBSCRIBE_STATE,
    WATCH_STATE,
    CommandInfo,
    lookup_command_info,
)

COMMAND_INFO_CASES = [
    ("WATCH", CommandInfo(set=WATCH_STATE)),
    ("watch", CommandInfo(set=WATCH_STATE)),
    ("wAtch", CommandInfo(set=WATCH_STATE)),
    (b"watch", CommandInfo(set=WATCH_STATE)),
    (bytearray(b"wAtCh"), CommandInfo(set=WATCH_STATE)),
    ("UNWATCH", CommandInfo(clear=WATCH_STATE)),
    ("MULTI", CommandInfo(set=MULTI_STATE)),
    ("exec", CommandInfo(clear=WATCH_STATE | MULTI_STATE)),
    ("Discard", CommandInfo(clear=WATCH_STATE | MULTI_STATE)),
    ("SUBSCRIBE", CommandInfo(set=SUBSCRIBE_STATE)),
    ("psubscribe", CommandInfo(set=SUBSCRIBE_STATE)),
    ("UNSUBSCRIBE", CommandInfo()),  # may leave other channels subscribed
    ("punsubscribe", CommandInfo()),
    ("MONITOR", CommandInfo(set=MONITOR_STATE)),
    ("GET", CommandInfo()),
    ("", CommandInfo()),
    (42, CommandInfo()),
]


@pytest.mark.parametrize("name,expected", COMMAND_INFO_CASES)
def test_lookup_command_info(name: Any, expected: CommandInfo) -> None:
    assert lookup_command_info(name) == expected


@given(st.sampled_from(["WATCH", "UNWATCH", "MULTI", "EXEC", "DISCARD", "SUBSCRIBE", "PSUBSCRIBE",
                        "SSUBSCRIBE", "MONITOR", "GET"]),
       st.lists(st.booleans(), min_size=10, max_size=10))
def test_case_and_type_never_matter(name: str, upper: list) -> None:
    mixed = "".join(ch.upper() if u else ch.lower() for ch, u in zip(name, upper))
    expected = lookup_command_info(name)
    for spelling in (mixed, mixed.encode(), bytearray(mixed.encode())):
        assert lookup_command_info(spelling) == expected


def test_ssubscribe_sets_both_bits() -> None:
    assert lookup_command_info("ssubscribe") == CommandInfo(set=SUBSCRIBE_STATE | SHARD_SUBSCRIBE_STATE)
