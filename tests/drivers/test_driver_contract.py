"""The storage driver contract (``storage_drivers.base``), stated once for every driver.

Each test runs against filesystem, inmemory and s3 (moto); ``new_driver()``
gives another instance on the same storage, as another worker or host would.
"""

import hashlib
import json
import random
import time

import pytest

from storage_drivers.base import AlreadyExists, InvalidResume, PathNotFound

MiB = 1024 * 1024


def data(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def put(driver, files: dict) -> None:
    for path, content in files.items():
        driver.write(path, content)


# -- small files ---------------------------------------------------------------


def test_write_read_and_overwrite(driver):
    driver.write("a/b/c", b"first")
    assert driver.read("a/b/c") == b"first"
    driver.write("a/b/c", b"second, longer")
    assert driver.read("a/b/c") == b"second, longer"
    driver.write("a/b/c", b"3")
    assert driver.read("a/b/c") == b"3"


def test_exclusive_write(driver):
    driver.write("x/link", b"one", exclusive=True)
    with pytest.raises(AlreadyExists) as err:
        driver.write("x/link", b"two", exclusive=True)
    assert err.value.path == "x/link"
    assert driver.read("x/link") == b"one"
    driver.write("x/link", b"three")
    assert driver.read("x/link") == b"three"


def test_zero_byte_write(driver):
    driver.write("z/empty", b"")
    assert driver.read("z/empty") == b""
    info = driver.stat("z/empty")
    assert (info.size, info.is_dir) == (0, False)
    with driver.open_reader("z/empty") as r:
        assert r.read() == b""


def test_open_reader_offsets(driver):
    content = data(1000, 1)
    driver.write("r/blob", content)
    for offset, expected in [(0, content), (400, content[400:]), (999, content[999:]), (1000, b"")]:
        with driver.open_reader("r/blob", offset) as reader:
            assert reader.read() == expected, offset
    with driver.open_reader("r/blob", 10) as reader:
        assert reader.read(5) == content[10:15]
        assert reader.read(5) == content[15:20]


def test_stat_file_and_directory(driver):
    before = time.time()
    driver.write("s/dir/file", b"12345")
    info = driver.stat("s/dir/file")
    assert (info.path, info.size, info.is_dir) == ("s/dir/file", 5, False)
    assert before - 5 <= info.mtime <= time.time() + 5
    for d in ("s", "s/dir"):
        info = driver.stat(d)
        assert (info.path, info.size, info.is_dir) == (d, 0, True)


def test_missing_paths_raise_path_not_found(driver):
    driver.write("m/present", b"x")
    calls = {
        "read": lambda: driver.read("m/absent"),
        "read of a directory": lambda: driver.read("m"),
        "open_reader": lambda: driver.open_reader("m/absent"),
        "open_reader at offset": lambda: driver.open_reader("m/absent", 5),
        "stat": lambda: driver.stat("m/absent"),
        "stat below a file": lambda: driver.stat("m/present/x"),
        "list": lambda: driver.list("m/absent"),
        "list of a file": lambda: driver.list("m/present"),
        "move": lambda: driver.move("m/absent", "m/elsewhere"),
        "delete": lambda: driver.delete("m/absent"),
        "walk": lambda: list(driver.walk("m/absent")),
    }
    for name, call in calls.items():
        with pytest.raises(PathNotFound):
            call()
            pytest.fail(f"{name} did not raise")
    assert driver.find_dirs("m/absent", "_") == []
    with pytest.raises(PathNotFound):
        driver.stat("m/elsewhere")


# -- directories ---------------------------------------------------------------


def test_list_in_byte_order(driver):
    names = ["b", "a", "B", "a-b", "a.b", "a_b", "Z", "\u00e9"]
    put(driver, {f"l/{n}": n.encode() for n in names})
    put(driver, {"l/z/inner": b"1", "l/z/deeper/file": b"2", "l/zz/x": b"3", "lx/other": b"4"})
    assert driver.list("l") == ["B", "Z", "a", "a-b", "a.b", "a_b", "b", "z", "zz", "\u00e9"]
    assert driver.list("l/z") == ["deeper", "inner"]
    assert driver.list("l/z/deeper") == ["file"]


def test_move_replaces_destination(driver):
    driver.write("mv/src", b"new content")
    driver.write("mv/dst", b"old")
    driver.move("mv/src", "mv/dst")
    assert driver.read("mv/dst") == b"new content"
    with pytest.raises(PathNotFound):
        driver.read("mv/src")
    driver.move("mv/dst", "mv/deeper/new/place")
    assert driver.read("mv/deeper/new/place") == b"new content"
    assert driver.list("mv") == ["deeper"]


def test_delete_file_and_tree(driver):
    put(driver, {"d/a/b/1": b"1", "d/a/b/2/3": b"3", "d/a/bc": b"bc", "d/a/b.x": b"bx", "d/keep": b"k"})
    driver.delete("d/a/b")
    for gone in ("d/a/b", "d/a/b/1", "d/a/b/2/3"):
        with pytest.raises(PathNotFound):
            driver.stat(gone)
    assert driver.list("d/a") == ["b.x", "bc"]
    driver.delete("d/a/bc")
    assert driver.list("d/a") == ["b.x"]
    assert driver.read("d/keep") == b"k"


def test_directory_of_a_deleted_last_file_is_empty_or_gone(driver):
    """Directories are implicit on S3 and in memory; the filesystem may keep an
    empty one (as Distribution's filesystem driver does).  Either way it holds
    nothing, and the registry treats both alike."""
    put(driver, {"v/dir/only": b"1", "v/keep": b"2"})
    driver.delete("v/dir/only")
    assert driver.list("v") in (["keep"], ["dir", "keep"])
    try:
        assert driver.list("v/dir") == []
    except PathNotFound:
        pass
    assert list(driver.walk("v")) and [i.path for i in driver.walk("v")] == ["v/keep"]


def test_walk(driver):
    files = {"w/a": b"1", "w/b/c": b"22", "w/b/d/e": b"333", "w/b/d/f": b""}
    put(driver, {**files, "wx/not-below": b"4", "w.other": b"5"})
    found = {(i.path, i.size, i.is_dir) for i in driver.walk("w")}
    assert found == {(p, len(c), False) for p, c in files.items()}
    assert sorted(i.path for i in driver.walk("w/b/d")) == ["w/b/d/e", "w/b/d/f"]


def test_find_dirs(driver):
    put(
        driver,
        {
            "repos/a/_layers/sha256/1/link": b"l",
            "repos/a/_manifests/tags/t/current/link": b"m",
            "repos/a/b/_manifests/tags/t/current/link": b"m",
            "repos/c/d/e/_layers/sha256/2/link": b"l",
            "repos/c/d/e/f/_uploads/u/data": b"u",
            "repos/c/other/file": b"x",
            "repos/g/h": b"no marker here",
            "repos-sibling/x/_layers/l": b"l",
        },
    )
    assert driver.find_dirs("repos", "_") == ["a", "a/b", "c/d/e", "c/d/e/f"]
    assert driver.find_dirs("repos/c", "_") == ["d/e", "d/e/f"]
    assert driver.find_dirs("repos/g", "_") == []


# -- appending writers ---------------------------------------------------------

# Around S3's 5 MiB part minimum (the s3 fixture's chunk size).
BOUNDARY_CHUNKS = [1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 11 * MiB]
BOUNDARY_SHA256 = "b445b2a08553b0ebf3d4ac74e8079f7e463699e1b0cb58895a37bf885acb1af9"


def test_writer_resumes_across_instances_at_part_boundaries(new_driver):
    chunks = [data(n, seed) for seed, n in enumerate(BOUNDARY_CHUNKS)]
    assert sha256(b"".join(chunks)) == BOUNDARY_SHA256
    token, written = None, 0
    for chunk in chunks:
        with new_driver().writer("up/blob", resume=token) as w:
            assert w.size == written
            assert w.write(chunk) == len(chunk)
            written += len(chunk)
            assert w.size == written
            token = json.loads(json.dumps(w.checkpoint()))
    with new_driver().writer("up/blob", resume=token) as w:
        assert w.size == written
        w.commit()
    d = new_driver()
    assert d.stat("up/blob").size == sum(BOUNDARY_CHUNKS)
    with d.open_reader("up/blob") as r:
        h = hashlib.sha256()
        while block := r.read(MiB):
            h.update(block)
    assert h.hexdigest() == BOUNDARY_SHA256


def test_writer_in_one_go(driver):
    content = data(11 * MiB + 7, 42)
    with driver.writer("one/blob") as w:
        for i in range(0, len(content), 3 * MiB):
            w.write(content[i : i + 3 * MiB])
        w.commit()
    assert sha256(driver.read("one/blob")) == sha256(content)


def test_small_chunks_then_commit_in_same_writer(new_driver):
    chunks = [data(n, 10 + n) for n in (3 * MiB, 1, 3 * MiB)]
    token = None
    for chunk in chunks:
        with new_driver().writer("small/blob", resume=token) as w:
            w.write(chunk)
            token = w.checkpoint()
    with new_driver().writer("small/blob", resume=token) as w:
        w.write(b"tail")
        w.commit()
    assert new_driver().read("small/blob") == b"".join(chunks) + b"tail"


@pytest.mark.parametrize("checkpoint_first", [False, True])
def test_zero_byte_writer_commit(new_driver, checkpoint_first):
    with new_driver().writer("zero/blob") as w:
        assert w.size == 0
        token = w.checkpoint() if checkpoint_first else None
        if not checkpoint_first:
            w.commit()
    if checkpoint_first:
        assert token == json.loads(json.dumps(token))
        with new_driver().writer("zero/blob", resume=token) as w:
            w.commit()
    d = new_driver()
    assert d.read("zero/blob") == b""
    assert d.stat("zero/blob").size == 0


def test_resume_discards_bytes_after_checkpoint(new_driver):
    first, lost, last = data(6 * MiB, 1), data(5 * MiB, 2), data(100, 3)
    with new_driver().writer("disc/blob") as w:
        w.write(first)
        token = w.checkpoint()
        w.write(lost)
    with new_driver().writer("disc/blob", resume=token) as w:
        assert w.size == len(first)
        w.write(last)
        w.commit()
    assert sha256(new_driver().read("disc/blob")) == sha256(first + last)


def test_cancel_leaves_nothing(new_driver):
    d = new_driver()
    d.write("cx/sibling", b"stays")
    with d.writer("cx/blob") as w:
        w.write(data(6 * MiB + 3, 5))
        token = w.checkpoint()
        w.write(b"more")
    with new_driver().writer("cx/blob", resume=token) as w:
        w.write(b"even more")
        w.cancel()
    with pytest.raises(PathNotFound):
        d.stat("cx/blob")
    assert [i.path for i in d.walk("cx")] == ["cx/sibling"]


@pytest.mark.parametrize("size", [100, 6 * MiB])
@pytest.mark.parametrize("write_more", [False, True])
def test_resume_after_cancel_is_invalid(new_driver, size, write_more):
    with new_driver().writer("inv/blob") as w:
        w.write(data(size, 7))
        token = w.checkpoint()
        w.cancel()
    with pytest.raises(InvalidResume):
        with new_driver().writer("inv/blob", resume=token) as w:
            if write_more:
                w.write(b"x")
            w.checkpoint()
            w.commit()


@pytest.mark.parametrize("size", [0, 3, 6 * MiB])
def test_writer_commits_to_another_path(new_driver, size):
    """commit(path) puts the whole content at ``path`` (replacing it), and nothing at the writer's own."""
    content = data(size, 7)
    token = None
    with new_driver().writer("up/moving", resume=token) as w:
        w.write(content[: size // 2])
        token = w.checkpoint()
    driver = new_driver()
    driver.write("final/place", b"old")
    with driver.writer("up/moving", resume=token) as w:
        w.write(content[size // 2:])
        w.commit("final/place")
    assert driver.read("final/place") == content
    with pytest.raises(PathNotFound):
        driver.read("up/moving")
