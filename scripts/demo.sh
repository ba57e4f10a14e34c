#!/usr/bin/env bash
# The end-to-end demo on an embedded default: a small simulated world, ingested into a ledger
# and applied by the cash-application engine.
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR=${1:-data/demo}
ARPILOT=.venv/bin/arpilot
WORLD="$HOME_DIR/world"
rm -rf "$HOME_DIR"
mkdir -p "$HOME_DIR"
echo "== 1. simulate a small AR world with ground truth (seed 7)"
$ARPILOT simulate --out "$WORLD" --customers 60 --months 6 --preset realistic --seed 7
echo
echo "== 2. import the ERP open items"
$ARPILOT --home "$HOME_DIR" import-erp "$WORLD/erp/open_items.csv"
echo
echo "== 3. ingest the bank statements (BAI2, camt.053/054, MT940, CSV) and the remittances"
echo "      (EDI 820, text PDFs, scans read by Tesseract, e-mails, CSV advices)"
$ARPILOT --home "$HOME_DIR" ingest "$WORLD/bank" "$WORLD/remittances" --json \
  | .venv/bin/python -c 'import json,sys; t=json.load(sys.stdin)["totals"]; print(", ".join(f"{v} {k}" for k, v in t.items()))'
echo
echo "== 3b. one extracted advice, as an analyst would inspect it"
SAMPLE=$(ls "$WORLD"/remittances/*.pdf | head -1)
$ARPILOT extract "$SAMPLE" | head -30
echo
echo "== 4. ingest again: nothing new"
$ARPILOT --home "$HOME_DIR" ingest "$WORLD/bank" | tail -1
echo
echo "== 5. cash application: apply every payment; what is not sure goes to exceptions"
$ARPILOT --home "$HOME_DIR" match
echo
echo "== 5b. the first applications and the first exception's suggestions (CSV export)"
$ARPILOT --home "$HOME_DIR" export applications --format csv | head -6
$ARPILOT --home "$HOME_DIR" export exceptions --format csv | head -4
echo
echo "== 5c. match again: nothing left to apply twice"
$ARPILOT --home "$HOME_DIR" match | head -1
echo
echo "== 6. the audit chain and the ledger"
$ARPILOT --home "$HOME_DIR" audit verify
$ARPILOT --home "$HOME_DIR" status
