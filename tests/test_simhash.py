"""SimHash of main text: near copies land close, other texts far; clusters; chunks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crawler.cli.chunks import split_markdown
from crawler.html import simhash as sim

PAGES = Path(__file__).parent / "data" / "pages"
# An article's length of text (~450 words): the labels of two of the labelled pages.
ARTICLE = (PAGES / "news.txt").read_text() + (PAGES / "blog.txt").read_text()

STORY = (
    "The lighthouse at Port Calder shone across the bay again on Friday night, for the "
    "first time since its lamp was switched off for a restoration that took two years. "
    "Engineers replaced forty panes of the lantern glass, rebuilt the clockwork that turns "
    "the lens, and repainted the tower in the red and white bands that sailors have steered "
    "by since 1858. The restoration was paid for by the harbour trust, the county council "
    "and a public appeal that raised money from more than three thousand people. The trust "
    "says the light will now be kept running by volunteers, with open days every month.")
OTHER = (
    "A round turn and two half hitches holds a mooring line through a buoy ring for a week "
    "unattended, better than a bowline that can shake loose when the line goes slack and "
    "tight all night. Seize the tail to the standing part, use two lines on two cleats, and "
    "check for chafe where they pass through the ring before you leave the boat for long.")
CHINESE = (PAGES / "chinese.txt").read_text(encoding="utf-8")
ARABIC = (PAGES / "arabic.txt").read_text(encoding="utf-8")


def bits(a: str, b: str) -> int:
    return sim.distance(sim.simhash(a), sim.simhash(b))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "changed"), [
    (ARTICLE, ARTICLE + " Updated at 10:42."),  # a date line
    (ARTICLE, "Printed from herald.example. " + ARTICLE),  # a printer version's header
    (ARTICLE, ARTICLE.replace("Friday night", "Saturday night")),  # an edit
    (CHINESE, CHINESE + "\u66f4\u65b0\u3002"),  # "updated."
    (ARABIC, ARABIC + " 10:42"),
])
def test_a_copy_with_a_small_change_is_near_and_another_text_is_far(text: str,
                                                                     changed: str) -> None:
    assert bits(text, text) == 0
    assert bits(text, changed) <= sim.MAX_DISTANCE
    assert bits(text, OTHER) > 3 * sim.MAX_DISTANCE


def test_case_spacing_and_punctuation_do_not_matter() -> None:
    assert bits(STORY, "  " + STORY.upper().replace(",", " ;").replace(" ", "\n  ")) == 0


def test_scripts_without_spaces_are_cut_into_characters() -> None:
    assert sim.tokens("港口灯塔 Harbour 123") == ["港", "口", "灯", "塔", "harbour", "123"]
    assert sim.tokens("منارة الميناء") == ["منارة", "الميناء"]
    assert bits(CHINESE, CHINESE.replace("灯塔", "渔船")) > 0  # characters count, not runs


def test_no_words_no_hash() -> None:
    assert sim.simhash("") is None and sim.simhash(" ... — !") is None
    assert sim.simhash("one two") is not None  # fewer words than a shingle still hash


def test_hashes_are_the_same_in_another_process() -> None:
    """Stored hashes compare across crawls: no per-process salt (PYTHONHASHSEED)."""
    code = "from crawler.html.simhash import simhash; import sys; print(simhash(sys.argv[1]))"
    other = subprocess.run([sys.executable, "-c", code, STORY], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345", "PATH": ""},
                           cwd=sim.__file__.rsplit("/crawler/", 1)[0])
    assert int(other.stdout) == sim.simhash(STORY)


def test_signed_for_sqlite_and_back() -> None:
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1):
        signed = sim.to_signed(value)
        assert -(1 << 63) <= signed < (1 << 63) and sim.from_signed(signed) == value


def test_a_long_text_is_sampled_the_same_way_every_time() -> None:
    long = " ".join(f"{STORY} paragraph {i}." for i in range(200))
    assert len(sim.tokens(long)) > 10 * sim.SAMPLE
    assert bits(long, long.replace("paragraph 7.", "paragraph seven.")) <= sim.MAX_DISTANCE
    assert bits(long, OTHER * 50) > 3 * sim.MAX_DISTANCE


def test_clusters_are_transitive_and_leave_singletons_out() -> None:
    a = 0b1111 << 20
    pairs = [("a", a), ("b", a ^ 0b111), ("c", a ^ 0b111 ^ (0b111 << 40)), ("far", ~a),
             ("copy", a), ("alone", 1 << 63)]
    groups = sim.clusters(((k, sim.to_signed(v & sim.MASK)) for k, v in pairs), 3)
    assert groups == [["a", "copy", "b", "c"]]  # c is 6 bits from a, 3 from b
    assert sim.clusters(pairs, 0) == [["a", "copy"]]


def test_clusters_of_many_exact_copies_cost_no_pairwise_work() -> None:
    pairs = [(i, 12345) for i in range(20_000)]
    assert [len(g) for g in sim.clusters(pairs)] == [20_000]


# -- chunks --------------------------------------------------------------------

DOC = ("# Guide\n\nIntro line.\n\n## Install\n\n" + "Run the installer now. " * 30 + "\n\n"
       "### On Debian\n\n```sh\n" + "\n".join(f"apt-get install pkg{i}" for i in range(40))
       + "\n```\n\n## Empty\n\n## Use\n\nShort.\n\n" + "x" * 500 + "\n")


@pytest.mark.parametrize("size", [64, 100, 250, 1000, 100_000])
def test_chunks_never_exceed_the_size_and_lose_nothing(size: int) -> None:
    chunks = split_markdown(DOC, size)
    assert all(len(c.text) <= size for c in chunks)
    joined = "".join("".join(c.text.split()) for c in chunks).replace("```sh", "")
    assert joined.replace("```", "") == "".join(DOC.split()).replace("```sh", "").replace("```",
                                                                                         "")


def test_chunks_follow_headings_and_carry_the_heading_path() -> None:
    chunks = split_markdown(DOC, 300)
    paths = [c.headings for c in chunks]
    assert paths[0] == ["Guide"] and chunks[0].text == "# Guide\n\nIntro line."
    assert ["Guide", "Install", "On Debian"] in paths
    assert ["Guide", "Empty"] not in paths  # a heading with nothing under it makes no chunk
    assert paths[-1] == ["Guide", "Use"]
    assert chunks[1].text.startswith("## Install\n\nRun the installer")  # heading kept with text


def test_a_cut_code_block_is_fenced_again_in_every_piece() -> None:
    code = [c.text for c in split_markdown(DOC, 200) if "apt-get" in c.text]
    assert len(code) > 2
    for piece in code:
        body = piece.split("```sh\n", 1)[-1]
        assert piece.count("```sh\n") == 1 and body.endswith("\n```")


def test_a_chunk_size_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        split_markdown(DOC, 10)


def test_threads_hashing_at_once_agree_with_one_thread(monkeypatch) -> None:
    """Big pages are read in threads; the word cache is cleared when full."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(sim, "_WORD_CACHE", 50)  # cleared again and again
    texts = [f"{ARTICLE} {i} " + " ".join(f"w{i}x{j}" for j in range(40)) for i in range(40)]
    expected = [sim.simhash(text) for text in texts]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(sim.simhash, texts * 3)) == expected * 3
