"""Secure pause: an agent (or the dialplan) stops a call's recording for a while.

The recording keeps its timeline: Asterisk's MixMonitor writes digital silence for the
paused span (both directions muted), so offsets and durations stay true. See the README,
"Pausing a recording".
"""
