"""Slots: CRC16 of a key (or of its ``{tag}``) modulo 16384, as redisc's ``hash.go``."""

from __future__ import annotations

from binascii import crc_hqx
from typing import Dict, List, Sequence, TypeVar

from ..resp import encode_arg
from ._common import HASH_SLOTS

K = TypeVar("K")


# -- hashing -------------------------------------------------------------------

def slot(key: object) -> int:
    """The hash slot of ``key``, exactly as the server's CLUSTER KEYSLOT computes it.

    The key is encoded as any command argument is (``str`` as UTF-8, ``int``
    in decimal, ...), and if it holds a non-empty ``{tag}`` only the tag is
    hashed, so that related keys can be put in one slot on purpose. The
    CRC16 is the XMODEM one that ``binascii.crc_hqx`` computes in C.
    """
    data = key if type(key) is bytes else encode_arg(key)
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return crc_hqx(data, 0) & (HASH_SLOTS - 1)


def split_by_slot(*keys: K) -> List[List[K]]:
    """Group keys by slot: groups in slot order, input order kept inside a group.

    Multi-key commands (MGET, DEL, ...) must not span slots in a cluster, so
    a batch is split with this and sent as one command per group.
    """
    groups: Dict[int, List[K]] = {}
    for key in keys:
        s = slot(key)
        group = groups.get(s)
        if group is None:
            groups[s] = [key]
        else:
            group.append(key)
    return [groups[s] for s in sorted(groups)]


def _cmd_slot(args: Sequence[object]) -> int:
    """The slot a command is routed by: its first argument's, or -1 (any node) without one."""
    return slot(args[0]) if args else -1
