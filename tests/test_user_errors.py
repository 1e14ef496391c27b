"""Every user error of `crawler run` is one line naming the problem and the fix, exit 2;
a traceback only with -v."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import cli_command, cli_env

pytestmark = pytest.mark.timeout(60)


def write_config(tmp_path: Path, output: Path | str) -> Path:
    config = tmp_path / "c.yaml"
    # Port 9 (discard) on loopback: nothing is fetched before the output is opened.
    config.write_text(f'name: c\nstart_urls: ["http://127.0.0.1:9/"]\noutput: "{output}"\n')
    return config


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), env=cli_env(), capture_output=True, text=True,
                          timeout=30, check=False)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_an_output_on_a_read_only_file_system_is_one_line(small_disk, tmp_path) -> None:
    disk = small_disk("1m", "ro")
    done = run("run", str(write_config(tmp_path, disk / "crawl.db")))

    assert done.returncode == 2
    assert one_line(done) == (f"crawler: error: cannot write {disk / 'crawl.db'}: Read-only "
                              "file system; choose another -o")


def test_a_read_only_output_file_is_one_line(small_disk, tmp_path) -> None:
    disk = small_disk("1m")
    db = disk / "crawl.db"
    db.touch()
    # Root writes through file permissions, so make the file itself read-only with a
    # read-only bind mount of it (the directory stays writable).
    subprocess.run(["mount", "--bind", str(db), str(db)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(db)], check=True)
        done = run("run", str(write_config(tmp_path, db)))
    finally:
        subprocess.run(["umount", str(db)], check=False)

    assert done.returncode == 2
    assert one_line(done) == (f"crawler: error: cannot write {db}: the file is read-only; make "
                              "it writable or choose another -o")


def test_an_output_below_a_file_is_one_line(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a directory")
    db = tmp_path / "notes.txt" / "crawl.db"
    done = run("run", str(write_config(tmp_path, "unused.db")), "-o", str(db))

    assert done.returncode == 2
    assert one_line(done) == (f"crawler: error: cannot write {db}: Not a directory; a part of "
                              "the path is a file; choose another -o")


def test_an_output_that_is_a_directory_is_one_line(tmp_path) -> None:
    done = run("run", str(write_config(tmp_path, tmp_path)))

    assert done.returncode == 2
    assert one_line(done) == (f"crawler: error: cannot write {tmp_path}: Is a directory; give a "
                              "file name, such as crawl.db")


def test_an_output_that_is_not_a_database_is_one_line_and_left_alone(tmp_path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# my notes\n" * 200)
    done = run("run", str(write_config(tmp_path, notes)))

    assert done.returncode == 2
    assert one_line(done) == (f"crawler: error: {notes} is not a crawl database (file is not a "
                              "database); choose another -o")
    assert notes.read_text() == "# my notes\n" * 200


def test_a_missing_output_directory_is_created(site_server, tmp_path) -> None:
    server = site_server({"/": "<title>home</title>"})
    db = tmp_path / "new" / "dirs" / "crawl.db"
    config = tmp_path / "c.yaml"
    config.write_text(f'start_urls: ["{server.url("/")}"]\noutput: "{db}"\n'
                      "politeness: {robots_txt: ignore}\n")

    done = run("run", str(config), "-q")

    assert done.returncode == 0, done.stderr
    assert db.is_file()


def test_a_spider_file_that_does_not_import_is_one_line(tmp_path) -> None:
    spider = tmp_path / "broken.py"
    spider.write_text("import crawler\nclass S(crawler.Spider:\n    pass\n")
    done = run("run", str(spider))

    assert done.returncode == 2
    assert one_line(done).startswith(f"crawler: error: {spider}: import failed: SyntaxError")


def test_a_spider_that_raises_is_one_line_and_its_traceback_comes_with_v(tmp_path) -> None:
    spider = tmp_path / "raising.py"
    spider.write_text(textwrap.dedent("""\
        import crawler

        class Raising(crawler.Spider):
            start_urls = ["http://127.0.0.1:9/"]

            def start_requests(self):
                raise ValueError("no start for you")
        """))
    db = tmp_path / "r.db"

    quiet = run("run", str(spider), "-o", str(db), "-q")
    verbose = run("-v", "run", str(spider), "-o", str(db), "-q")

    assert quiet.returncode == verbose.returncode == 1
    assert one_line(quiet) == ("crawler: error: unexpected ValueError: no start for you (run "
                               "again with -v for the traceback)")
    assert "Traceback" in verbose.stderr and 'raise ValueError("no start for you")' in (
        verbose.stderr)
