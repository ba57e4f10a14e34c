"""`arpilot extract` and document ingest as a user meets them: JSON out, bad input refused."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARPILOT = str(Path(sys.executable).parent / "arpilot")
SAMPLES = REPO / "data" / "samples" / "remittances"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARPILOT, *args], capture_output=True, text=True, timeout=300)


def test_extract_prints_fields_with_confidence_and_boxes() -> None:
    result = run("extract", str(SAMPLES / "advice_layout0_usd.pdf"))
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    assert advice["reader"] == "text" and advice["total"] == "114,298.10".replace(",", "")
    first = advice["lines"][0]["reference"]
    assert first["value"] == "INV-104233" and first["page"] == 1 and len(first["box"]) == 4
    assert 0 < first["confidence"] <= 1


def _encrypted_pdf() -> bytes:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt=pdfencrypt.StandardEncryption("secret", canPrint=0))
    pdf.drawString(72, 720, "Remittance Advice  Invoice INV-1  Amount Paid 10.00")
    pdf.save()
    return buffer.getvalue()


def _letter_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, "Dear customer, our offices are closed on Friday. Kind regards.")
    pdf.save()
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.pdf", b""),
        ("corrupt.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage"),
        ("truncated.pdf", None),
        ("encrypted.pdf", "encrypted"),
        ("binary.bin", bytes(range(256)) * 8),
        ("statement.bai", b"01,021000089,ARPILOT,260901,0600,1,80,,2/\n"),
    ],
)
def test_bad_documents_exit_2_with_a_reason(tmp_path: Path, name: str, content: object) -> None:
    path = tmp_path / name
    if content is None:
        path.write_bytes((SAMPLES / "advice_layout0_usd.pdf").read_bytes()[:900])
    elif content == "encrypted":
        path.write_bytes(_encrypted_pdf())
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    result = run("extract", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and name in result.stderr


def test_nothing_remittance_like_is_said_so(tmp_path: Path) -> None:
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(_letter_pdf())
    result = run("extract", str(letter))
    assert result.returncode == 2 and "remittance" in result.stderr


def test_ingest_documents_quarantines_the_bad_and_keeps_the_rest(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("advice_layout1_eur.pdf", "advice_email_list.txt", "advice_edi820.edi"):
        (inbox / name).write_bytes((SAMPLES / name).read_bytes())
    (inbox / "encrypted.pdf").write_bytes(_encrypted_pdf())
    (inbox / "letter.pdf").write_bytes(_letter_pdf())
    home = tmp_path / "home"
    result = run("--home", str(home), "ingest", str(inbox), "--json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    status = {Path(f["path"]).name: f["status"] for f in report["files"]}
    assert status == {
        "advice_layout1_eur.pdf": "ingested",
        "advice_email_list.txt": "ingested",
        "advice_edi820.edi": "ingested",
        "encrypted.pdf": "refused",
        "letter.pdf": "not_remittance",
    }
    assert list((home / "quarantine").glob("*encrypted.pdf.reason.txt"))
    state = json.loads(run("--home", str(home), "status", "--json").stdout)
    assert state["quarantined_files"] == 1
