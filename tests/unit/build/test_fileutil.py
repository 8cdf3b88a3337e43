import subprocess
from pathlib import Path

from callctl.build.fileutil import file_digest, sha256_file, tail


def test_digests_match_the_coreutils_tools(tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(bytes(range(256)) * 5000)  # more than one read chunk
    for algorithm, tool in (("md5", "md5sum"), ("sha256", "sha256sum")):
        expected = subprocess.run(
            [tool, str(f)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        assert file_digest(f, algorithm) == expected
    assert sha256_file(f) == file_digest(f)


def test_tail_returns_the_last_lines_or_nothing(tmp_path: Path) -> None:
    f = tmp_path / "log"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(f, 2) == "line 98\nline 99\n"
    assert tail(tmp_path / "missing") == ""
