"""Markdown split into chunks by its headings, each at most a given size.

`split_markdown(markdown, size)` cuts at headings first: every section (a
heading and what follows it, up to the next heading) starts a new chunk, and
carries its *heading path* (`["Install", "On Debian"]`: the headings it sits
under, its own last), and a heading's text stays with the start of what
follows it. A section longer than `size` is cut between
paragraphs; a paragraph longer than `size` between lines, then sentences,
then words, and a word longer than `size` anywhere. A fenced code block cut
in pieces is closed and reopened in each piece, so every chunk is valid
Markdown. A heading with nothing under it before the next heading makes no
chunk of its own (it is in the path of what follows).

No chunk is longer than `size` characters, and nothing is lost: joining the
chunks gives back every non-blank line of the input, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MIN_SIZE = 64
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
_SENTENCE = re.compile("(?<=[.!?\u3002\uff01\uff1f])\\s+")  # and the CJK full stops


@dataclass
class Chunk:
    headings: list[str]
    text: str


@dataclass
class _Section:
    headings: list[str]
    blocks: list[str] = field(default_factory=list)  # paragraphs, code blocks, lists...


def split_markdown(markdown: str, size: int) -> list[Chunk]:
    """Chunks of at most `size` characters, cut at headings first (see the module doc)."""
    if size < MIN_SIZE:
        raise ValueError(f"chunk size must be at least {MIN_SIZE} characters")
    chunks = []
    for section in _sections(markdown):
        for text in _pack(section.blocks, size):
            chunks.append(Chunk(list(section.headings), text))
    return chunks


def _sections(markdown: str) -> Iterator[_Section]:
    """Sections by heading, with their blocks (blank-line separated; fences kept whole).

    A heading with nothing under it goes to the start of the next section,
    so no text is lost and no chunk is a lone heading.
    """
    path: list[tuple[int, str]] = []
    section = _Section([])
    block: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        if fence is None and (heading := _HEADING.match(line)):
            _end_block(block, section)
            carried = [] if _has_text(section) else section.blocks
            if not carried:
                yield section
            level = len(heading.group(1))
            path = [(lv, title) for lv, title in path if lv < level] + [(level, heading.group(2))]
            section = _Section([title for _, title in path], [*carried, line])
            continue
        marker = _FENCE.match(line.strip()) if not line.startswith("    ") else None
        if marker and (fence is None or line.strip().startswith(fence)):
            fence = marker.group(1)[:3] if fence is None else None
        if fence is None and not line.strip():
            _end_block(block, section)
        else:
            block.append(line)
    _end_block(block, section)
    if section.blocks:
        yield section


def _has_text(section: _Section) -> bool:
    return any(not _HEADING.match(block) for block in section.blocks)


def _end_block(block: list[str], section: _Section) -> None:
    if block:
        section.blocks.append("\n".join(block))
        block.clear()


def _pack(blocks: list[str], size: int) -> Iterator[str]:
    """Blocks joined by blank lines into texts of at most `size` characters; a
    section's heading stays with the start of what follows it."""
    current = ""
    for block in blocks:
        room = size
        if current and _only_headings(current) and len(block) + len(current) + 2 > size:
            room = max(size - len(current) - 2, MIN_SIZE // 2)
        for piece in _fit(block, room):
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= size:
                current = joined
            else:
                yield current
                current = piece
    if current:
        yield current


def _only_headings(text: str) -> bool:
    return all(_HEADING.match(block) for block in text.split("\n\n"))


def _fit(block: str, size: int) -> list[str]:
    """A block as pieces of at most `size` characters."""
    if len(block) <= size:
        return [block]
    fence = _FENCE.match(block.split("\n", 1)[0])
    if fence and block.rstrip().endswith(fence.group(1)[:3]):
        room = size - 2 * len(fence.group(1)) - len(fence.group(2)) - 2
        if room >= MIN_SIZE // 2:
            body = block.split("\n")[1:-1]
            opening, closing = fence.group(1) + fence.group(2), fence.group(1)
            return [f"{opening}\n{piece}\n{closing}" for piece in _join(body, "\n", room)]
    return _cut(block, size)


def _cut(text: str, size: int) -> list[str]:
    """Text longer than `size` cut between lines, else sentences, else words, else anywhere."""
    if "\n" in text:
        return _join(text.split("\n"), "\n", size)
    sentences = _SENTENCE.split(text)
    if len(sentences) > 1:
        return _join(sentences, " ", size)
    words = text.split(" ")
    if len(words) > 1:
        return _join(words, " ", size)
    return [text[i:i + size] for i in range(0, len(text), size)]


def _join(parts: list[str], glue: str, size: int) -> list[str]:
    """Parts joined by `glue` into pieces of at most `size`; a part too long is cut."""
    out: list[str] = []
    current = ""
    for part in parts:
        for piece in [part] if len(part) <= size else _cut(part, size):
            joined = f"{current}{glue}{piece}" if current else piece
            if len(joined) <= size:
                current = joined
            else:
                if current:
                    out.append(current)
                current = piece
    if current:
        out.append(current)
    return out
