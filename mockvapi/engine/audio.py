"""Synthetic audio for the ``vapi.websocket`` and listen transports: one binary frame every 20 ms.

Frames are silence, or a quiet sine tone while the assistant speaks, in ``pcm_s16le`` (16-bit signed
little-endian, 16 kHz by default) or ``mulaw`` (G.711 mu-law, 8 kHz by default). Everything is
precomputed once per source, so producing a frame is a list index.

Mu-law silence: this module encodes linear 0 with standard G.711, which gives ``0xFF``. Some stacks send
``0x7F`` instead (the "negative zero" code); both decode to 0, and a consumer should accept either.
"""

from __future__ import annotations

import functools
import math
import struct

__all__ = [
    "AUDIO_FORMATS",
    "AudioSource",
    "DEFAULT_SAMPLE_RATES",
    "FRAME_MS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "MULAW_SILENCE",
    "frame_bytes",
    "mulaw_decode",
    "mulaw_encode",
    "sample_rate_problem",
]

AUDIO_FORMATS: tuple[str, ...] = ("pcm_s16le", "mulaw")
DEFAULT_SAMPLE_RATES: dict[str, int] = {"pcm_s16le": 16000, "mulaw": 8000}
FRAME_MS = 20
_BYTES_PER_SAMPLE = {"pcm_s16le": 2, "mulaw": 1}
#: The rates a source serves (the spec's AudioFormat allows 0 to 192000; below telephone quality there
#: is nothing to hear, and 20 ms frames need a whole number of samples: rates that are multiples of 50).
MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192_000

_MULAW_BIAS = 0x84  # 132 on the 16-bit scale (0x21 on the 14-bit one): puts segment edges on powers of 2
_MULAW_CLIP = 8159  # largest 14-bit magnitude that still fits once the bias is added
MULAW_SILENCE = 0xFF  # mulaw_encode(0)


def mulaw_encode(sample: int) -> int:
    """G.711 mu-law code (0..255) for one 16-bit linear sample.

    Follows the ITU/Sun reference ``g711.c`` (and CPython's old ``audioop.lin2ulaw``): the sample is
    floored to 14 bits first, so small negative samples land one step further from zero than a
    sign-magnitude encoder would put them.
    """
    value = sample >> 2  # arithmetic shift: floors, as the reference does
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _MULAW_CLIP) + (_MULAW_BIAS >> 2)
    segment = (value >> 6).bit_length()  # 0..7, or 8 when clipped to full scale
    if segment > 7:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def mulaw_decode(code: int) -> int:
    """16-bit linear sample for one G.711 mu-law code (inverse of ``mulaw_encode`` up to quantisation)."""
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _MULAW_BIAS) << exponent
    magnitude -= _MULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def sample_rate_problem(rate: object, ms: int = FRAME_MS) -> str | None:
    """Why ``rate`` cannot be served in ``ms`` frames (what it "must" be), or None if it can."""
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return f"must be a whole number from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (mockvapi serves no other rate)"
    if (rate * ms) % 1000:
        return f"must give a whole number of samples per {ms} ms frame (a multiple of {1000 // math.gcd(ms, 1000)})"
    return None


def _check_format(fmt: str) -> None:
    if fmt not in _BYTES_PER_SAMPLE:
        raise ValueError(
            f"mockvapi: unknown audio format {fmt!r}; expected one of {', '.join(AUDIO_FORMATS)}"
        )


def _samples_per_frame(sample_rate: int, ms: int) -> int:
    if sample_rate <= 0 or ms <= 0:
        raise ValueError(f"mockvapi: sample rate and frame length must be positive, got {sample_rate}, {ms}")
    if (sample_rate * ms) % 1000:
        raise ValueError(f"mockvapi: {ms} ms at {sample_rate} Hz is not a whole number of samples")
    return sample_rate * ms // 1000


def frame_bytes(fmt: str, sample_rate: int, ms: int = FRAME_MS) -> int:
    """Size in bytes of one ``ms`` frame: 640 for 20 ms of 16 kHz pcm_s16le, 160 for 8 kHz mulaw."""
    _check_format(fmt)
    return _samples_per_frame(sample_rate, ms) * _BYTES_PER_SAMPLE[fmt]


@functools.lru_cache(maxsize=16)
def _frames(
    fmt: str, sample_rate: int, per_frame: int, tone_hz: int, amplitude: float
) -> tuple[bytes, tuple[bytes, ...]]:
    """One frame of silence and the tone's frames, computed once per set of parameters and shared by every
    source: the bytes never change, and the sine (1,600 samples at 16 kHz) took ~0.3 ms per websocket peer."""
    silence = _encode(fmt, [0] * per_frame)
    # An integer tone repeats exactly every sample_rate / gcd(rate, tone) samples; precompute enough
    # whole frames to cover a common multiple of that period and the frame length (at most 1 s).
    period = sample_rate // math.gcd(sample_rate, tone_hz)
    cycle = math.lcm(period, per_frame)
    peak = amplitude * 32767
    wave = [round(peak * math.sin(2 * math.pi * tone_hz * n / sample_rate)) for n in range(cycle)]
    return silence, tuple(_encode(fmt, wave[i : i + per_frame]) for i in range(0, cycle, per_frame))


def _encode(fmt: str, samples: list[int]) -> bytes:
    if fmt == "mulaw":
        return bytes(mulaw_encode(s) for s in samples)
    return struct.pack(f"<{len(samples)}h", *samples)


class AudioSource:
    """Deterministic stream of frames: ``frames(speaking)`` returns the next one.

    The tone's phase runs with the frame counter whether or not anyone is speaking, so a source fed the
    same sequence of ``speaking`` flags always yields the same bytes.
    """

    def __init__(
        self,
        fmt: str = "pcm_s16le",
        sample_rate: int | None = None,
        *,
        ms: int = FRAME_MS,
        tone_hz: int = 440,
        amplitude: float = 0.1,
    ) -> None:
        _check_format(fmt)
        if tone_hz <= 0:
            raise ValueError(f"mockvapi: tone_hz must be positive, got {tone_hz!r}")
        if not 0.0 <= amplitude <= 1.0:
            raise ValueError(f"mockvapi: amplitude must be within 0..1, got {amplitude!r}")
        self.format = fmt
        self.sample_rate = DEFAULT_SAMPLE_RATES[fmt] if sample_rate is None else sample_rate
        self.ms = ms
        self.tone_hz = tone_hz
        self.amplitude = amplitude
        per_frame = _samples_per_frame(self.sample_rate, ms)
        self.frame_size = per_frame * _BYTES_PER_SAMPLE[fmt]
        self._silence, self._tone = _frames(fmt, self.sample_rate, per_frame, tone_hz, amplitude)
        self._index = 0

    @property
    def silence(self) -> bytes:
        """One frame of silence."""
        return self._silence

    def frames(self, speaking: bool) -> bytes:
        """The next frame: tone if ``speaking``, else silence."""
        frame = self._tone[self._index % len(self._tone)] if speaking else self._silence
        self._index += 1
        return frame

    def reset(self) -> None:
        """Start again from the first frame."""
        self._index = 0

    def __repr__(self) -> str:
        return (
            f"AudioSource({self.format}, {self.sample_rate} Hz, {self.ms} ms = {self.frame_size} B, "
            f"tone={self.tone_hz} Hz @ {self.amplitude:g})"
        )
