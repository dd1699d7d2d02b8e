"""Spectrum checks for recordings: which tones does a sound file hold?

The lab's callers and agents stream pure sine tones (caller 440 Hz, agents 1000/1500 Hz),
so "both directions were recorded" becomes "both tones stand out in the recording's
spectrum, and a frequency nobody sent does not".
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile

# A present tone stands this far above the spectrum's median (seen: ~1000x and more).
MIN_PRESENT_LEVEL = 100.0
# ... and this far above the strongest tone that must be absent.
MIN_PRESENT_OVER_ABSENT = 30.0


def tone_levels(path: Path, freqs: Iterable[float], width_hz: float = 5.0
                ) -> dict[float, float]:
    """Magnitude at each frequency relative to the median of the whole spectrum.

    The magnitude is the peak within ``width_hz`` of the frequency (a tone through a
    codec and resampler is not exactly on one bin). 1.0 means "like the noise floor".
    """
    samples, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    mono = samples.mean(axis=1)
    if mono.size < rate // 10:
        raise AssertionError(f"{path} holds {mono.size} samples: too short to analyse")
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    bins = np.fft.rfftfreq(mono.size, 1.0 / rate)
    floor = float(np.median(spectrum)) or float(np.finfo(np.float64).tiny)
    levels = {}
    for freq in freqs:
        near = (bins >= freq - width_hz) & (bins <= freq + width_hz)
        if not near.any():
            raise ValueError(f"{freq} Hz is outside the spectrum of {path} ({rate} Hz)")
        levels[freq] = float(spectrum[near].max()) / floor
    return levels


def assert_tones(path: Path, present: Iterable[float], absent: Iterable[float]) -> None:
    """Fail unless every ``present`` tone stands out and every ``absent`` one does not."""
    present, absent = list(present), list(absent)
    levels = tone_levels(path, present + absent)
    report = ", ".join(f"{f:g} Hz: {levels[f]:.1f}" for f in present + absent)
    loudest_absent = max((levels[f] for f in absent), default=1.0)
    for freq in present:
        assert levels[freq] >= MIN_PRESENT_LEVEL, (
            f"{freq:g} Hz is missing from {path} (levels over median: {report})")
        assert levels[freq] >= MIN_PRESENT_OVER_ABSENT * loudest_absent, (
            f"{freq:g} Hz does not stand out from absent tones in {path} ({report})")
