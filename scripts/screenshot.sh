#!/usr/bin/env bash
# Runs the real review window under Xvfb on a copy of the bundled sample, classifies it, and saves
# screenshots: the whole window (worklist with scores, DV and LV with the saliency overlay, the
# findings panel) at 1920x1080 and at 1024x768, a zoomed view, the films-only layout, the
# contact sheet and the colony view, a distance and an angle measured on the films, and
# Model > "Improve with my reviews..." run on 60 reviewed phantoms (clicked at this build's menu
# positions at 1920x1080). Needs: Xvfb, xdotool, ImageMagick (`import`), Mesa GL.
#   apt-get install -y xvfb xauth xdotool imagemagick libgl1-mesa-dri libegl-mesa0
# Usage: scripts/screenshot.sh [OUT_DIR]   (default target/screenshots)
set -euo pipefail
OUT=${1:-target/screenshots}
BIN=${BIN:-./target/release/mousexray}
for tool in Xvfb xdotool import; do
    command -v "$tool" >/dev/null || { echo "screenshot.sh: $tool is missing (see the header)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "screenshot.sh: $BIN missing; run make build" >&2; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d)
# A display number no other X server holds.
for n in $(seq 90 99); do [ -e "/tmp/.X$n-lock" ] || { DISP=:$n; break; }; done
[ -n "${DISP:-}" ] || { echo "screenshot.sh: displays :90 to :99 are all taken" >&2; exit 1; }
cleanup() { kill "${APP:-}" "${XVFB:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cp -r assets/sample "$WORK/sample"
rm -rf "$WORK/sample/.mousexray"
Xvfb "$DISP" -screen 0 1920x1080x24 >/dev/null 2>&1 & XVFB=$!
export DISPLAY=$DISP XDG_RUNTIME_DIR=$WORK XDG_DATA_HOME=$WORK/data
# The server must answer before the app starts: an app that finds no display exits at once.
for _ in $(seq 100); do xdotool getmouselocation >/dev/null 2>&1 && break; sleep 0.1; done
# Starts the app on folder $1 and waits for its window (sets APP and win).
open_window() {
    "$BIN" "$1" --classify --reviewer Phenotyper >"$WORK/app.log" 2>&1 & APP=$!
    win=""
    for _ in $(seq 150); do
        win=$(xdotool search --name '^mousexray$' 2>/dev/null | head -1 || true)
        [ -n "$win" ] && break
        sleep 0.2
    done
    [ -n "$win" ] || { cat "$WORK/app.log" >&2; echo "screenshot.sh: the window did not appear" >&2; exit 1; }
}
open_window "$WORK/sample"
key() { xdotool windowfocus "$win" 2>/dev/null || true; xdotool key --window "$win" "$@"; sleep 0.6; }
# The pointer rests in an empty corner, where it shows no tooltip.
size() { xdotool windowsize "$win" "$1" "$2"; xdotool windowmove "$win" 0 0; xdotool mousemove 1910 1070; sleep 1.5; }
shot() { import -window root -crop "$1+0+0" +repage "$OUT/$2"; }
sleep 4 # scan, model load and classification of 24 specimens
# Measurements on the most abnormal specimen, the overlay off: a distance along the DV's upper
# left tibia, an angle over the LV's thoracolumbar column (this sample's positions in a
# fresh window at 1920x1080), then both undone.
size 1920 1080; key Home
click() { xdotool mousemove "$1" "$2" click 1; sleep 1; }
key d; click 545 478; click 470 458
key g; click 1075 567; click 1175 555; click 1290 577
key Escape; xdotool mousemove 1910 1070; sleep 1
import -window root -crop 1215x800+385+80 +repage "$OUT/review_measure.png"
key z; key z
# The most abnormal specimen (the list is sorted by P(abnormal)), overlay on.
key Home; key o
size 1920 1080; shot 1920x1080 review_window.png
size 1024 768; shot 1024x768 review_1024.png
key m; shot 1024x768 review_films_only.png; key m
size 1920 1080
# Zoom in on the same specimen (linked: both views).
key plus; key plus; key plus
shot 1920x1080 review_zoomed.png
# The contact sheet with every animal head up, then the first specimen's colony beside its controls.
key Home; key shift+h; key v; sleep 3
shot 1920x1080 review_contact_sheet.png
key shift+v; sleep 2
shot 1920x1080 review_colony.png
key v; key shift+h
kill "$APP" 2>/dev/null || true
wait "$APP" 2>/dev/null || true

# Improve with my reviews: 60 phantoms whose truth is recorded as a reviewer's decisions.
"$BIN" synth --out "$WORK/reviewed" --count 60 --seed 7301 --size 512 --reviewed 60 --vary-film >/dev/null 2>&1
open_window "$WORK/reviewed"
sleep 5
size 1920 1080
click 61 12    # Model
click 120 141  # Improve with my reviews...
click 281 216  # Start fine-tuning
sleep 25       # 8 epochs at most on 46 specimens
shot 820x410 review_improve.png
echo "screenshots in $OUT: review_window.png review_1024.png review_films_only.png review_zoomed.png review_contact_sheet.png review_colony.png review_measure.png review_improve.png"
