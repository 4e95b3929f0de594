"""ScenarioFolders: a request reads scenario files inside the `serve --scenarios` folders only, real
files on disk (symlinks, a FIFO, /dev/stdin), and never learns anything about a path outside them."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mockvapi.errors import BadRequest, Forbidden
from mockvapi.server.files import ScenarioFolders

SCENARIO = """\
version: 1
name: inside
steps:
  - user: "Hello."
  - assistant: "Hi."
"""
SHADOW = "root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "inside.yaml").write_text(SCENARIO, encoding="utf-8")
    (outside / "shadow").write_text(SHADOW, encoding="utf-8")
    return allowed, outside


def test_no_folders_means_no_path_is_read(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    with pytest.raises(Forbidden, match="--scenarios DIR"):
        ScenarioFolders().locate(str(allowed / "inside.yaml"))


def test_a_file_inside_loads_by_absolute_or_relative_path(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    folders = ScenarioFolders([allowed])
    for given in (str(allowed / "inside.yaml"), "inside.yaml", "./sub/../inside.yaml"):
        path = folders.locate(given)
        assert folders.read(path).scenario.name == "inside"
    assert folders.named("inside") == (allowed / "inside.yaml").resolve()


@pytest.mark.parametrize("given", ["{outside}/shadow", "../outside/shadow", "{outside}/missing", "../outside/missing",
                                   "/etc/passwd", "/dev/stdin", "/proc/self/environ"])
def test_outside_is_refused_alike_whether_it_exists_or_not(tree: tuple[Path, Path], given: str) -> None:
    allowed, outside = tree
    with pytest.raises(Forbidden) as refused:
        ScenarioFolders([allowed]).locate(given.format(outside=outside))
    assert "outside the scenario folders" in str(refused.value)
    assert "root:" not in str(refused.value)


def test_a_symlink_out_of_the_folder_is_refused(tree: tuple[Path, Path]) -> None:
    allowed, outside = tree
    (allowed / "link.yaml").symlink_to(outside / "shadow")
    (allowed / "dirlink").symlink_to(outside)
    folders = ScenarioFolders([allowed])
    for given in ("link.yaml", "dirlink/shadow", str(allowed / "link.yaml")):
        with pytest.raises(Forbidden):
            folders.locate(given)
    assert folders.named("link") is None
    with pytest.raises(Forbidden):
        folders.read(allowed / "link.yaml")


def test_a_name_is_never_a_path(tree: tuple[Path, Path]) -> None:
    allowed, outside = tree
    (outside / "evil.yaml").write_text(SCENARIO, encoding="utf-8")
    folders = ScenarioFolders([allowed])
    for name in ("../outside/evil", str(outside / "evil"), "/etc/passwd", ".hidden", "a/b", ""):
        assert folders.named(name) is None


def test_a_fifo_is_refused_without_blocking(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    os.mkfifo(allowed / "pipe.yaml")  # nobody ever writes to it: an open for reading would block forever
    folders = ScenarioFolders([allowed])
    path = folders.locate("pipe.yaml")
    done = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            folders.read(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(30), "reading a FIFO blocked"
    assert len(errors) == 1 and isinstance(errors[0], BadRequest) and "not a regular file" in str(errors[0])


def test_a_folder_lists_its_yaml_files_only(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    (allowed / "notes.txt").write_text("x", encoding="utf-8")
    folders = ScenarioFolders([allowed])
    assert folders.files(folders.locate(str(allowed))) == [allowed / "inside.yaml"]


def test_too_large_and_non_utf8_files_are_refused_without_quoting_them(tree: tuple[Path, Path],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    allowed, _ = tree
    (allowed / "binary.yaml").write_bytes(b"\xff\xfe secret bytes")
    folders = ScenarioFolders([allowed])
    with pytest.raises(BadRequest, match="not UTF-8") as refused:
        folders.read(folders.locate("binary.yaml"))
    assert "secret bytes" not in str(refused.value)
    monkeypatch.setenv("MOCKVAPI_SCENARIO_MAX_BYTES", "10")
    with pytest.raises(BadRequest, match="too large"):
        folders.read(folders.locate("inside.yaml"))
