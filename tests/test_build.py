"""The build finds HiGHS the supported way and says clearly when it cannot.

CMake is configured (not built) against fake HiGHS install prefixes, each wrong in one way, and
against the real one in this interpreter's ``highsbox``; the message must name what was found and
what is required. The full build, the wheel and its installation are checked by
scripts/check_fresh_install.sh, which the test command runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake (scripts/setup.sh installs it)")


def configure(tmp_path: Path, *defines: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["cmake", "-S", str(REPO), "-B", str(tmp_path / "build"), "-DINFERNO_BUILD_TESTS=OFF",
         f"-DPython_EXECUTABLE={python}", *defines],
        capture_output=True, text=True, timeout=300)


def fake_highs(root: Path, version: str | None, library: bytes | None = b"not an ELF file") -> Path:
    """A HiGHS install prefix with the C header, an HConfig.h of `version` and a libhighs.so."""
    (root / "include/highs/interfaces").mkdir(parents=True)
    (root / "include/highs/interfaces/highs_c_api.h").write_text("/* fake */\n")
    if version is not None:
        major, minor, patch = version.split(".")
        (root / "include/highs/HConfig.h").write_text(
            f"#define HIGHS_VERSION_MAJOR {major}\n#define HIGHS_VERSION_MINOR {minor}\n"
            f"#define HIGHS_VERSION_PATCH {patch}\n")
    if library is not None:
        (root / "lib").mkdir()
        (root / "lib/libhighs.so").write_bytes(library)
    return root


def one_line(text: str) -> str:
    """CMake wraps long messages; compare them as one line."""
    return " ".join(text.split())


@pytest.mark.parametrize("version", ["1.6.0", "2.0.0", "0.9.9"])
def test_a_highs_outside_the_supported_range_is_named_with_the_range(tmp_path, version):
    root = fake_highs(tmp_path / "highs", version)
    proc = configure(tmp_path, f"-DINFERNO_HIGHS_ROOT={root}")
    assert proc.returncode != 0
    assert (f"HiGHS {version} found at {root} (INFERNO_HIGHS_ROOT); inferno needs HiGHS >= 1.7.0 and < 2.0.0"
            in one_line(proc.stderr)), proc.stderr


def test_a_prefix_without_the_version_header_is_not_taken_for_highs(tmp_path):
    root = fake_highs(tmp_path / "highs", None)
    proc = configure(tmp_path, f"-DINFERNO_HIGHS_ROOT={root}")
    assert proc.returncode != 0
    assert "has no include/highs/HConfig.h: not a HiGHS install prefix" in one_line(proc.stderr), proc.stderr


def test_a_prefix_without_the_shared_library_is_an_error(tmp_path):
    root = fake_highs(tmp_path / "highs", "1.15.1", library=None)
    proc = configure(tmp_path, f"-DINFERNO_HIGHS_ROOT={root}")
    assert proc.returncode != 0
    assert "HiGHS 1.15.1 at" in proc.stderr and "has no shared library lib/libhighs.so" in one_line(proc.stderr)


def test_a_library_whose_soname_cannot_be_read_is_an_error(tmp_path):
    root = fake_highs(tmp_path / "highs", "1.15.1")
    proc = configure(tmp_path, f"-DINFERNO_HIGHS_ROOT={root}")
    assert proc.returncode != 0
    assert f"cannot read the SONAME of {root}/lib/libhighs.so" in one_line(proc.stderr), proc.stderr


def test_a_python_without_highsbox_is_told_how_to_get_it(tmp_path):
    # A virtualenv with nothing installed: its interpreter cannot import highsbox.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    proc = configure(tmp_path, python=str(tmp_path / "bare/bin/python"))
    assert proc.returncode != 0
    message = one_line(proc.stderr)
    assert "HiGHS not found" in message and "cannot import it" in message
    assert "-m pip install 'highsbox>=1.13,<2'" in message and "-DINFERNO_HIGHS_ROOT=<prefix>" in message


def test_the_highsbox_of_this_interpreter_configures(tmp_path):
    import highsbox  # the build requirement, installed with the test dependencies

    proc = configure(tmp_path)
    assert proc.returncode == 0, proc.stderr
    dist = Path(highsbox.highs_dist_dir())
    config = (dist / "include/highs/HConfig.h").read_text()
    version = ".".join(line.split()[2] for line in config.splitlines()
                       if line.startswith(("#define HIGHS_VERSION_MAJOR", "#define HIGHS_VERSION_MINOR",
                                           "#define HIGHS_VERSION_PATCH")))
    assert f"-- HiGHS {version}: {dist}/lib/libhighs.so (the highsbox package of {sys.executable})" in proc.stdout
