#!/usr/bin/env bash
# The end-to-end demo on the embedded sample: a ledger, the sample open items, its status.
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR=${1:-data/demo}
ARPILOT=.venv/bin/arpilot
rm -rf "$HOME_DIR"
echo "== arpilot demo in $HOME_DIR"
$ARPILOT --home "$HOME_DIR" init
$ARPILOT --home "$HOME_DIR" import-erp data/samples/open_items.csv
$ARPILOT --home "$HOME_DIR" audit verify
$ARPILOT --home "$HOME_DIR" status
