#!/usr/bin/env bash
# Draws a sheet of phantoms for comparing the generators with real films: a row each of style a
# as the bundled models were trained (plain), style a varied (--vary-animal --vary-film) and
# style b, DV and LV of three normal animals, each film auto-levelled. With REAL_DIR (a folder of
# real films, specimen folders holding DV.png and/or LV.png), a last row shows them at the same
# size: for looking at locally; real films are not committed. Needs ImageMagick (`montage`).
# Usage: scripts/phantom-sheet.sh OUT.png [REAL_DIR]
set -euo pipefail
OUT=${1:?usage: scripts/phantom-sheet.sh OUT.png [REAL_DIR]}
REAL=${2:-}
BIN=${BIN:-./target/release/mousexray}
command -v montage >/dev/null || { echo "phantom-sheet.sh: ImageMagick's montage is missing" >&2; exit 1; }
[ -x "$BIN" ] || { echo "phantom-sheet.sh: $BIN missing; run make build" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
common=(--count 3 --seed 2026 --size 384 --prevalence 0 --ruler-rate 0)
"$BIN" synth --out "$WORK/plain" "${common[@]}" 2>/dev/null
"$BIN" synth --out "$WORK/varied" "${common[@]}" --vary-animal --vary-film 2>/dev/null
"$BIN" synth --out "$WORK/b" --style b "${common[@]}" 2>/dev/null
tiles=()
for set in plain varied b; do
    for id in MX00000 MX00001 MX00002; do
        for view in DV LV; do
            tile="$WORK/$set-$id-$view.png"
            convert "$WORK/$set/$id/$view.png" -auto-level -resize 200x200 -depth 8 "$tile"
            tiles+=(-label "$set $view" "$tile")
        done
    done
done
if [ -n "$REAL" ]; then
    for film in "$REAL"/*/DV.png "$REAL"/*/LV.png; do
        [ -f "$film" ] || continue
        tile="$WORK/real-$(basename "$(dirname "$film")")-$(basename "$film")"
        convert "$film" -colorspace Gray -auto-level -resize 200x200 -background black -gravity center -extent 200x200 -depth 8 "$tile"
        tiles+=(-label "real $(basename "$(dirname "$film")") $(basename "$film" .png)" "$tile")
    done
fi
montage "${tiles[@]}" -tile 6x -geometry +3+3 -background "#202020" -fill white -pointsize 12 "$WORK/sheet.png"
convert "$WORK/sheet.png" -colorspace Gray -depth 8 "$OUT"
echo "$OUT"
