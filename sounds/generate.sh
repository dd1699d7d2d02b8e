#!/bin/sh
# Regenerate the recording notices from notice.<lang>.txt:
# espeak-ng (text to speech) -> sox -> 8 kHz mono 16-bit PCM WAV in <lang>/callrec/notice.wav,
# the layout Asterisk expects under its sounds directory (sound:callrec/notice, by language).
#
# Reproducible: sox runs with -R (fixed seeds, no time stamps) and -D (no dither), and the
# speech rate is pinned, so the same espeak-ng and sox versions give byte-identical files.
# Usage: sounds/generate.sh            (needs: apt-get install espeak-ng sox)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# Words per minute: espeak-ng's default, pinned so a new default cannot change the files.
rate=175

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "generate.sh: $tool is missing (apt-get install espeak-ng sox)" >&2
        exit 1
    }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for lang in fi sv en; do
    text="$here/notice.$lang.txt"
    out="$here/$lang/callrec/notice.wav"
    mkdir -p "$(dirname "$out")"
    espeak-ng -v "$lang" -s "$rate" -f "$text" -w "$tmp/speech.wav"
    # silence ...: trim the synthesiser's lead-in and tail (every second delays the caller);
    # gain -n -3: the same loudness for every language, with headroom for the phone codec.
    sox -R -D "$tmp/speech.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3 rate -h
    printf '%s  %s\n' "$(soxi -D "$out")s" "$lang/callrec/notice.wav"
done
