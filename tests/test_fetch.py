"""Registry fetches: pinned files fetched with the ordinary clients, checked against their SHA-256 when fetched and
again when used; a corrupted or truncated cached file is a one-line error naming it and the command that fixes it."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pytest

from lab.cli.main import main
from lab.errors import DataError
from lab.fetch.cache import Pin, cache_root, require, sha256_file, verify
from lab.fetch.pins import DLIB, FOOTAGE, MOBILENET_V2
from lab.fetch.run import fetch, status

ONE_LINE = re.compile(r"^error: .+ \(.+\): .+\n$")


def _flip_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "a"))
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("LAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "convlstm-lab"


def test_every_pin_is_well_formed():
    names = [pin.name for bundle in (FOOTAGE, DLIB, MOBILENET_V2) for pin in bundle.pins]
    assert len(names) == len(set(names)) == 14
    for pin in (*FOOTAGE.pins, *DLIB.pins, *MOBILENET_V2.pins):
        assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256) and pin.size > 0 and pin.licence
    with pytest.raises(ValueError, match="registry"):
        Pin("x", registry="conda", package="x", member="x", sha256="0" * 64, size=1, licence="x")


def test_verify_names_the_file_and_what_is_wrong(tmp_path):
    path = tmp_path / "clip.avi"
    path.write_bytes(b"0123456789")
    digest = hashlib.sha256(b"0123456789").hexdigest()
    assert sha256_file(path) == digest and verify(path, digest, 10) == path
    with pytest.raises(DataError, match=r"9 bytes, not the pinned 10 .*clip.avi.*: fetch it again"):
        path.write_bytes(b"012345678")
        verify(path, digest, 10)
    with pytest.raises(DataError, match="differs from the pinned"):
        path.write_bytes(b"0123456780")
        verify(path, digest, 10)
    with pytest.raises(DataError, match="file not found"):
        verify(tmp_path / "gone", digest)


def test_footage_fetch_verifies_is_a_no_op_again_and_status_lists_it(registry_cache, capsys):
    path = FOOTAGE.path("movie.avi")
    assert sha256_file(path) == FOOTAGE.pin("movie.avi").sha256
    assert main(["footage", "fetch", "movie.avi"]) == 0
    out = capsys.readouterr().out
    assert "nothing to do: all 1 files are present and verified" in out
    assert main(["footage", "status"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"movie.avi\s+present", out) and "present and verified" in out


def test_a_corrupted_or_truncated_cached_file_is_a_one_line_error_when_used(private_cache, capsys, tmp_path):
    movie = private_cache / "footage" / "movie.avi"
    original = movie.read_bytes()
    for damage, words in ((_flip_byte, "differs from the pinned"),
                          (lambda p: p.write_bytes(original[:1000]), "1,000 bytes, not the pinned 491,853")):
        damage(movie)
        # used by the face-swap generator, which reads P1's clip first
        assert main(["synth", "--faceswap", "--out", str(tmp_path / "swaps")]) == 2
        err = capsys.readouterr().err
        assert ONE_LINE.match(err) and "Traceback" not in err, err
        assert words in err and str(movie) in err and "run lab footage fetch --force" in err
        assert main(["footage", "status"]) == 2
        assert "run lab footage fetch --force" in capsys.readouterr().err
        movie.write_bytes(original)
    with pytest.raises(DataError, match="has not been fetched.*run lab footage fetch$"):
        movie.unlink()
        require(FOOTAGE, "movie.avi")


def test_a_corrupted_model_is_a_one_line_error_naming_the_weights_command(private_cache, capsys, tmp_path):
    _flip_byte(private_cache / "models" / "mmod_human_face_detector.dat")
    assert main(["weights", "status", "dlib"]) == 2
    assert "run lab weights fetch dlib --force" in capsys.readouterr().err
    assert main(["synth", "--faceswap", "--out", str(tmp_path / "swaps")]) == 2
    err = capsys.readouterr().err
    assert ONE_LINE.match(err) and "mmod_human_face_detector.dat" in err and "lab weights fetch dlib --force" in err


def test_force_fetches_again_and_repairs(private_cache):
    movie = private_cache / "footage" / "movie.avi"
    _flip_byte(movie)
    assert status(FOOTAGE, ["movie.avi"])[0].state.startswith("SHA-256")
    outcomes = fetch(FOOTAGE, ["movie.avi"])  # a wrong file is fetched again without --force
    assert outcomes[0].state == "fetched" and sha256_file(movie) == FOOTAGE.pin("movie.avi").sha256


def test_a_package_whose_file_changed_writes_nothing(tmp_path):
    pin = replace(FOOTAGE.pin("movie.avi"), sha256="0" * 64)
    from lab.fetch.registries import fetch_debian

    with pytest.raises(DataError, match="registry now serves a different file"):
        fetch_debian(pin.package, [pin], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_without_apt_the_error_names_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no dpkg-deb
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["footage", "fetch", "cup.mp4"]) == 2
    err = capsys.readouterr().err
    assert ONE_LINE.match(err) and "(opencv-doc)" in err and "apt-get" in err


def test_apt_fetches_private_package_lists_when_the_systems_lack_the_package(tmp_path, monkeypatch):
    # A fresh container has no package lists: APT_CONFIG points apt at an empty folder, as there.
    empty = tmp_path / "lists"
    (empty / "partial").mkdir(parents=True)
    (tmp_path / "apt.conf").write_text(f'Dir::State::Lists "{empty}";\n')
    monkeypatch.setenv("APT_CONFIG", str(tmp_path / "apt.conf"))
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    outcomes = fetch(FOOTAGE, ["realshort.mp4"])
    assert outcomes[0].state == "fetched" and sha256_file(outcomes[0].path) == FOOTAGE.pin("realshort.mp4").sha256
    assert any((tmp_path / "cache" / "apt" / "lists").glob("*Packages*"))
    assert not any(p.suffix == ".deb" for p in (tmp_path / "cache").rglob("*"))  # the package was deleted
