"""Artefact packing on a small fake build: determinism, layout, checksums, runtime needs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from callctl.build import artifact
from callctl.errors import IntegrityError, StateError

MANIFEST = {
    "key": "0123456789abcdef0123",
    "built_at": "2026-11-22T10:00:00Z",
    "versions": {"asterisk": "22.10.1"},
    "prefix": "/cache/builds/x/prefix",
}


def _fake_build(root: Path) -> Path:
    build = root / "builds" / MANIFEST["key"]
    prefix = build / "prefix"
    (prefix / "sbin").mkdir(parents=True)
    (prefix / "lib" / "asterisk" / "modules").mkdir(parents=True)
    (prefix / "etc" / "empty").mkdir(parents=True)
    # A real ELF, so the runtime-needs scan has something to read.
    shutil.copy2("/bin/true", prefix / "sbin" / "asterisk")
    (prefix / "lib" / "libasteriskpj.so.2").write_bytes(b"not really a library")
    (prefix / "lib" / "libasteriskpj.so").symlink_to("libasteriskpj.so.2")
    (prefix / "lib" / "asterisk" / "modules" / "chan_motif.so").write_bytes(b"module")
    (build / "manifest.json").write_text(json.dumps(MANIFEST, indent=2) + "\n")
    return build


def test_name_carries_version_and_key() -> None:
    assert artifact.artifact_name(MANIFEST) == "asterisk-22.10.1-0123456789abcdef0123"
    odd = {**MANIFEST, "versions": {"asterisk": "GIT-master/1 2"}}
    assert artifact.artifact_name(odd) == "asterisk-GIT-master_1_2-0123456789abcdef0123"


def test_pack_layout_owner_modes_and_times(tmp_path: Path) -> None:
    build = _fake_build(tmp_path)
    art = artifact.pack(build, tmp_path / "out")
    assert art.path.name == "asterisk-22.10.1-0123456789abcdef0123.tar.gz"
    top = art.name
    members = artifact.members(art.path)
    names = [m.name for m in members]
    assert names[:4] == [
        f"{top}/artifact.json",
        f"{top}/manifest.json",
        f"{top}/prefix",
        f"{top}/prefix/etc",
    ]
    assert f"{top}/prefix/etc/empty" in names  # empty directories survive
    assert {m.uid for m in members} == {0} and {m.uname for m in members} == {"root"}
    assert {m.mtime for m in members} == {artifact.build_epoch(MANIFEST)}
    by_name = {m.name: m for m in members}
    link = by_name[f"{top}/prefix/lib/libasteriskpj.so"]
    assert link.issym() and link.linkname == "libasteriskpj.so.2"
    assert by_name[f"{top}/prefix/sbin/asterisk"].mode == 0o755
    assert by_name[f"{top}/prefix/lib/asterisk/modules/chan_motif.so"].mode == 0o644
    with tarfile.open(art.path) as tar:
        f = tar.extractfile(f"{top}/manifest.json")
        assert f is not None and json.loads(f.read()) == MANIFEST
    assert not list((tmp_path / "out").glob(".*partial"))


def test_same_build_packs_to_the_same_bytes(tmp_path: Path) -> None:
    build = _fake_build(tmp_path)
    first = artifact.pack(build, tmp_path / "a")
    # Things that must not leak into the archive: file times, owners, stray write bits.
    mod = build / "prefix" / "lib" / "asterisk" / "modules" / "chan_motif.so"
    os.utime(mod, (1, 1))
    os.chown(mod, 1234, 1234)
    mod.chmod(0o664)
    second = artifact.pack(build, tmp_path / "b")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    mod.write_bytes(b"module, changed")
    assert artifact.pack(build, tmp_path / "c").sha256 != first.sha256


def test_sha256_file_is_sha256sum_format(tmp_path: Path) -> None:
    art = artifact.pack(_fake_build(tmp_path), tmp_path / "out")
    assert art.sha256_path.read_text() == f"{art.sha256}  {art.path.name}\n"
    proc = subprocess.run(
        ["sha256sum", "-c", art.sha256_path.name],
        cwd=art.path.parent,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert artifact.verify(art.path) == art


def test_verify_refuses_a_corrupt_artefact(tmp_path: Path) -> None:
    art = artifact.pack(_fake_build(tmp_path), tmp_path / "out")
    data = bytearray(art.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    art.path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match"):
        artifact.verify(art.path)
    art.sha256_path.write_text("not a digest\n")
    with pytest.raises(IntegrityError, match="does not start with a sha256"):
        artifact.verify(art.path)


def test_pack_refuses_something_that_is_not_a_build(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="not a finished build"):
        artifact.pack(tmp_path, tmp_path / "out")


def test_runtime_needs_of_a_real_elf(tmp_path: Path) -> None:
    art = artifact.pack(_fake_build(tmp_path), tmp_path / "out")
    with tarfile.open(art.path) as tar:
        f = tar.extractfile(f"{art.name}/artifact.json")
        assert f is not None
        meta = json.loads(f.read())
    runtime = meta["runtime"]
    # /bin/true needs libc, which Debian ships in libc6; the build's own libraries never count.
    assert runtime["libraries"]["libc.so.6"]["package"] == "libc6"
    assert "libc6" in runtime["packages"] and runtime["unresolved"] == []
    assert not any(k.startswith("libasterisk") for k in runtime["libraries"])
    assert meta["name"] == art.name and meta["format"] == artifact.ARTIFACT_FORMAT


def test_parsers() -> None:
    readelf = (
        "File: a\n 0x0000000000000001 (NEEDED)             Shared library: [libjansson.so.4]\n"
        " 0x000000000000001d (RUNPATH)            Library runpath: [/x/lib]\n"
        "File: b\n 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n"
    )
    assert artifact.parse_needed(readelf) == {"libjansson.so.4", "libc.so.6"}
    ldd = (
        "a:\n\tlinux-vdso.so.1 (0x00007ffc)\n"
        "\tlibjansson.so.4 => /lib/x86_64-linux-gnu/libjansson.so.4 (0x00007f01)\n"
        "\tlibgone.so.1 => not found\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f02)\n"
    )
    assert artifact.parse_ldd(ldd) == {"libjansson.so.4": "/lib/x86_64-linux-gnu/libjansson.so.4"}
    dpkg = (
        "libjansson4:amd64: /usr/lib/x86_64-linux-gnu/libjansson.so.4\n"
        "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\n"
        "diversion by x from: /y\n"
    )
    assert artifact.parse_dpkg_search(dpkg) == {
        "/usr/lib/x86_64-linux-gnu/libjansson.so.4": "libjansson4",
        "/lib/x86_64-linux-gnu/libc.so.6": "libc6",
    }


def test_runtime_state_left_in_the_prefix_is_not_packed(tmp_path: Path) -> None:
    build = _fake_build(tmp_path)
    clean = artifact.pack(build, tmp_path / "clean")
    prefix = build / "prefix"
    (prefix / "var" / "run" / "asterisk").mkdir(parents=True)
    (prefix / "var" / "lib" / "asterisk").mkdir(parents=True)
    (prefix / "var" / "lib" / "asterisk" / "astdb.sqlite3").write_bytes(b"db")
    (prefix / "var" / "log" / "asterisk").mkdir(parents=True)
    (prefix / "var" / "log" / "asterisk" / "messages").write_text("log")
    os.mkfifo(prefix / "lib" / "stray.fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        # Bound at a short path (AF_UNIX limit), then moved where Asterisk would put it.
        short = Path(tempfile.mkdtemp(dir="/tmp")) / "s"
        sock.bind(str(short))
        os.rename(short, prefix / "var" / "run" / "asterisk" / "asterisk.ctl")
        short.parent.rmdir()
        lines: list[str] = []
        dirty = artifact.pack(build, tmp_path / "dirty", lines.append)
    finally:
        sock.close()
    names = {m.name.split("/prefix/", 1)[-1] for m in artifact.members(dirty.path)}
    assert "var/run/asterisk" in names  # folders stay, their contents go
    assert not names & {
        "var/run/asterisk/asterisk.ctl",
        "var/lib/asterisk/astdb.sqlite3",
        "var/log/asterisk/messages",
        "lib/stray.fifo",
    }
    assert any("left out 4 runtime file(s)" in line for line in lines)
    assert clean.sha256 != dirty.sha256  # the new (empty) folders are part of the tree
