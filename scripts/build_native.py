"""Compile arpilot's optional C accelerators in place (``make native``; run by every Make target).

Each accelerator is a speed-up only: when it is missing, or was built from another version of
its source (the digest compiled into it differs), the code it speeds up runs in pure Python
with the same results. So a machine without a C compiler or the Python headers still runs
everything; this script says what is missing and exits 0. ``--strict`` makes that an error.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ingest.native import native_digest as digest  # noqa: E402

SOURCES = (ROOT / "ingest" / "bank" / "_camt_tree.c",)


def target(source: Path) -> Path:
    return source.with_name(source.stem + sysconfig.get_config_var("EXT_SUFFIX"))


def _compiler() -> list[str]:
    """The C compiler Python itself was built with, and its flags."""
    return shlex.split(sysconfig.get_config_var("CC") or "cc")


def compile_command(source: Path, output: Path, source_digest: str) -> list[str]:
    import lxml

    includes = [sysconfig.get_paths()["include"], *lxml.get_include()]
    return [
        *_compiler(),
        "-shared",
        "-fPIC",
        "-O2",
        "-Wall",
        "-Werror",
        f'-DSOURCE_DIGEST="{source_digest}"',
        *(f"-I{path}" for path in includes),
        str(source),
        "-o",
        str(output),
        "-ldl",
    ]


def problem() -> str | None:
    """Why nothing can be compiled here, or None."""
    compiler = _compiler()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler}); on Debian: apt-get install -y gcc"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h); on Debian: apt-get install -y python3-dev"
    return None


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail when a module cannot be built")
    args = parser.parse_args(argv)
    missing = problem()
    if missing:
        sys.stderr.write(f"native: not built ({missing}); the pure-Python readers run instead\n")
        return 1 if args.strict else 0
    failed = 0
    for source in SOURCES:
        output, source_digest = target(source), digest(source)
        if output.exists() and source_digest.encode() in output.read_bytes():
            continue  # built from this source and lxml already
        command = compile_command(source, output.with_suffix(".tmp"), source_digest)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            failed += 1
            sys.stderr.write(
                f"native: {source.relative_to(ROOT)} did not compile; the pure-Python reader "
                f"runs instead:\n{_tail(done.stderr)}\n"
            )
            continue
        output.with_suffix(".tmp").replace(output)
        sys.stdout.write(f"native: built {output.relative_to(ROOT)}\n")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
