"""Near-duplicate text: a 64-bit SimHash of word shingles, and clusters of close hashes.

`simhash(text)` lower-cases the text, splits it into tokens (words; each
character of a script written without spaces — Chinese, Japanese, Thai,
Lao, Khmer, Burmese — is a token of its own, so shingles work there too),
hashes every run of three tokens, and sets each of the 64 bits to the
majority vote of those hashes (Charikar's SimHash). Two texts that share
most of their shingles get hashes a few bits apart: a printer version, a
copy with a different date line, a syndicated article with another
footer. Manku et al. (WWW 2007) found 3 bits of 64 a good threshold for web
pages, which is the default here.

Hashes are stable across processes and machines (BLAKE2b of each token,
not Python's salted `hash`), so hashes stored by different crawls compare.
`to_signed` / `from_signed` map them to SQLite's signed 64-bit integers.

`clusters(pairs, max_distance)` groups (id, hash) pairs whose hashes are
within `max_distance` bits, transitively, without comparing every pair:
split the 64 bits into `max_distance + 1` blocks; two hashes that close
agree on at least one whole block (pigeonhole), so only hashes sharing a
block value are compared.
"""

from __future__ import annotations

import re
import sys
import threading
from array import array
from collections import defaultdict
from collections.abc import Hashable, Iterable
from hashlib import blake2b
from itertools import compress, pairwise
from operator import not_, xor

BITS = 64
MASK = (1 << BITS) - 1
SHINGLE = 3  # tokens per shingle
MAX_DISTANCE = 3  # bits: the default threshold for "near-duplicate"
_NO_SPACES = (
    "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Burmese, Khmer
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs
)
_TOKENS = re.compile(f"[{_NO_SPACES}]|[^\\W_{_NO_SPACES}]+")
_HAS_NO_SPACES = re.compile(f"[{_NO_SPACES}]")
_WORDS = re.compile(r"[^\W_]+")  # faster than _TOKENS when no such script is in the text
SAMPLE = 256  # shingles: a longer text keeps a consistent sample of about this many
_WORD_CACHE = 65_536
_CACHE_LOCK = threading.Lock()
_plain: dict[str, int] = {}  # word -> its hash
_second: dict[str, int] = {}  # ... rotated by 21 bits
_third: dict[str, int] = {}  # ... by 42
# Column j of the hashes' bytes, one bit tested per table: byte -> 1 or 0.
_BIT_TABLES = [bytes((value >> bit) & 1 for value in range(256)) for bit in range(8)]


def tokens(text: str) -> list[str]:
    """Lower-case words, and single characters of scripts written without spaces."""
    text = text.lower()
    if not text.isascii() and _HAS_NO_SPACES.search(text):
        return _TOKENS.findall(text)
    return _WORDS.findall(text)


def simhash(text: str | None) -> int | None:
    """The SimHash of a text's 3-token shingles (unsigned 64-bit), None without words."""
    words = tokens(text or "")
    if not words:
        return None
    with _CACHE_LOCK:  # big pages are read in threads: no clearing between learn and use
        _learn(words)
        first = list(map(_plain.__getitem__, words))
        return _majority(_shingles(words, first) if len(first) >= SHINGLE else first)


def _shingles(words: list[str], first: list[int]) -> list[int]:
    """Each shingle's hash: its words' hashes rotated by their place in it, xor-ed.

    A long text keeps only the shingles whose first word's hash ends in
    enough zero bits: the same choice in every text (so similar texts keep
    similar shingles), and a bounded cost, since only those are computed.
    """
    count = len(first) - SHINGLE + 1
    if count <= SAMPLE:  # all of them, xor-ed by `map` in C
        second = map(_second.__getitem__, words[1:])
        third = map(_third.__getitem__, words[2:])
        return list(map(xor, map(xor, first, second), third))
    keep = (1 << (count // SAMPLE).bit_length()) - 1
    starts = compress(range(count), map(not_, map(keep.__and__, first)))
    second, third = _second, _third
    chosen = [first[i] ^ second[words[i + 1]] ^ third[words[i + 2]] for i in starts]
    return chosen or [first[i] ^ second[words[i + 1]] ^ third[words[i + 2]]
                      for i in range(SAMPLE)]


def _learn(words: list[str]) -> None:
    """Hash the words not seen before: as they are, and rotated by 21 and 42 bits."""
    new = set(words).difference(_plain)
    if not new:
        return
    if len(_plain) + len(new) > _WORD_CACHE:
        _plain.clear()
        _second.clear()
        _third.clear()
        new = set(words)
    for word in new:
        h = int.from_bytes(blake2b(word.encode(), digest_size=8).digest(), "little")
        _plain[word] = h
        _second[word] = ((h << 21) | (h >> 43)) & MASK
        _third[word] = ((h << 42) | (h >> 22)) & MASK


def _majority(hashes: list[int]) -> int:
    """Each bit set when more than half the hashes have it (counted column by column
    over the hashes' bytes, in C: 64 translate-and-count passes)."""
    packed = array("Q", hashes)
    if sys.byteorder == "big":
        packed.byteswap()
    data = packed.tobytes()
    half = len(hashes) / 2
    result = 0
    for byte in range(8):
        column = data[byte::8]
        for bit, table in enumerate(_BIT_TABLES):
            if column.translate(table).count(1) > half:
                result |= 1 << (byte * 8 + bit)
    return result


def distance(a: int, b: int) -> int:
    """Bits in which two hashes differ."""
    return ((a ^ b) & MASK).bit_count()


def to_signed(value: int) -> int:
    """An unsigned 64-bit hash as SQLite's signed INTEGER."""
    return value - (1 << BITS) if value >= 1 << (BITS - 1) else value


def from_signed(value: int) -> int:
    return value & MASK


def clusters(pairs: Iterable[tuple[Hashable, int]], max_distance: int = MAX_DISTANCE
             ) -> list[list[Hashable]]:
    """Groups of ids whose hashes are within `max_distance` bits (transitively), each
    in the order given, largest group first; ids without a near twin are left out."""
    by_value: dict[int, list[Hashable]] = defaultdict(list)
    for key, value in pairs:
        by_value[from_signed(value)].append(key)
    values = list(by_value)  # equal hashes are one value: no quadratic work for copies
    joined = _Joined(len(values))
    for block in _blocks(max_distance):
        buckets: defaultdict[int, list[int]] = defaultdict(list)
        for index, value in enumerate(values):
            buckets[value & block].append(index)
        for members in buckets.values():
            for n, i in enumerate(members):
                for j in members[n + 1:]:
                    if distance(values[i], values[j]) <= max_distance:
                        joined.union(i, j)
    groups: defaultdict[int, list[Hashable]] = defaultdict(list)
    for index, value in enumerate(values):
        groups[joined.find(index)].extend(by_value[value])
    found = [group for group in groups.values() if len(group) > 1]
    return sorted(found, key=len, reverse=True)


class _Joined:
    """Union-find over 0..n-1."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _blocks(max_distance: int) -> list[int]:
    """`max_distance + 1` bit masks that split the 64 bits between them."""
    count = max_distance + 1
    edges = [round(i * BITS / count) for i in range(count + 1)]
    return [((1 << (hi - lo)) - 1) << lo for lo, hi in pairwise(edges)]
