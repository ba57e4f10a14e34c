#!/usr/bin/env bash
# Set up everything arpilot needs on a fresh machine: a virtualenv with the locked Python
# dependencies, and Debian's tesseract-ocr. Safe to re-run; fails with the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
UV_VERSION=0.13.8
PYTHON=${PYTHON:-}

fail() { echo "bootstrap: $*" >&2; exit 1; }

if [[ -z "$PYTHON" ]]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON=$candidate; break
    fi
  done
fi
[[ -n "$PYTHON" ]] || fail "Python 3.11 or newer is required; install it (Debian: apt-get install -y python3 python3-venv)"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "bootstrap: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV" || fail "could not create a virtualenv; on Debian: apt-get install -y python3-venv"
fi
if ! "$VENV/bin/uv" --version 2>/dev/null | grep -q "$UV_VERSION"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" \
    || fail "could not install uv $UV_VERSION from the package index (is PyPI reachable?)"
fi
# --inexact keeps uv itself, which lives in the same environment.
UV_PYTHON_DOWNLOADS=never "$VENV/bin/uv" sync --locked --inexact --python "$VENV/bin/python" --quiet \
  || fail "locked dependencies did not install; if pyproject.toml changed, run: $VENV/bin/uv lock"

if ! command -v tesseract >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing tesseract-ocr"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null) \
      || fail "apt-get could not install tesseract-ocr"
  else
    fail "Tesseract OCR is missing; run: sudo apt-get install -y tesseract-ocr"
  fi
fi
touch "$VENV/.bootstrapped"
