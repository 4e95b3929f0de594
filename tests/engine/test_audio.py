from __future__ import annotations

import math
import struct
import warnings

import pytest

from mockvapi.engine.audio import (
    MULAW_SILENCE,
    AudioSource,
    frame_bytes,
    mulaw_decode,
    mulaw_encode,
)


@pytest.mark.parametrize(
    ("fmt", "rate", "ms", "size"),
    [
        ("pcm_s16le", 16000, 20, 640),
        ("mulaw", 8000, 20, 160),
        ("pcm_s16le", 8000, 20, 320),
        ("pcm_s16le", 24000, 10, 480),
        ("mulaw", 16000, 20, 320),
    ],
)
def test_frame_bytes(fmt: str, rate: int, ms: int, size: int) -> None:
    assert frame_bytes(fmt, rate, ms) == size


def test_frame_bytes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown audio format 'opus'"):
        frame_bytes("opus", 16000)
    with pytest.raises(ValueError, match="whole number of samples"):
        frame_bytes("pcm_s16le", 11025)
    with pytest.raises(ValueError, match="positive"):
        frame_bytes("mulaw", 0)


def test_mulaw_encode_known_values() -> None:
    assert mulaw_encode(0) == 0xFF == MULAW_SILENCE
    assert mulaw_encode(32767) == 0x80
    assert mulaw_encode(-32768) == 0x00
    assert mulaw_encode(-1) == 0x7E  # floored to 14 bits first, as in the G.711 reference code
    assert mulaw_encode(8) == 0xFE
    assert mulaw_decode(0xFF) == 0 == mulaw_decode(0x7F)  # both "zeros" decode to silence
    assert mulaw_decode(0x80) == 32124
    assert mulaw_decode(0x00) == -32124


def test_mulaw_round_trip_stays_within_one_quantisation_step() -> None:
    for sample in range(-32768, 32768, 97):
        decoded = mulaw_decode(mulaw_encode(sample))
        # Step size doubles per segment: 8 near zero, 1024 at the top; clipping adds ~650 at full scale.
        assert abs(decoded - sample) <= max(8, abs(sample) // 16) + 700 * (abs(sample) > 32000)


def test_mulaw_encode_matches_audioop_when_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # removed in Python 3.13
    linear = struct.pack("<65536h", *range(-32768, 32768))
    assert audioop.lin2ulaw(linear, 2) == bytes(mulaw_encode(s) for s in range(-32768, 32768))
    codes = bytes(range(256))
    assert audioop.ulaw2lin(codes, 2) == struct.pack("<256h", *(mulaw_decode(c) for c in codes))


def test_pcm_source_defaults_and_silence() -> None:
    source = AudioSource()
    assert (source.format, source.sample_rate, source.frame_size) == ("pcm_s16le", 16000, 640)
    frame = source.frames(speaking=False)
    assert frame == bytes(640) == source.silence


def test_mulaw_source_defaults_and_silence() -> None:
    source = AudioSource("mulaw")
    assert (source.sample_rate, source.frame_size) == (8000, 160)
    assert source.frames(speaking=False) == b"\xff" * 160


@pytest.mark.parametrize("fmt", ["pcm_s16le", "mulaw"])
def test_speaking_frames_are_a_quiet_tone(fmt: str) -> None:
    source = AudioSource(fmt)
    frame = source.frames(speaking=True)
    assert len(frame) == source.frame_size
    assert frame != source.silence
    if fmt == "pcm_s16le":
        samples = struct.unpack(f"<{len(frame) // 2}h", frame)
    else:
        samples = tuple(mulaw_decode(b) for b in frame)
    peak = max(abs(s) for s in samples)
    assert 2500 < peak < 3600  # amplitude 0.1 of full scale (mu-law quantisation allowed)
    # 440 Hz over 20 ms: about 8.8 cycles, so about 17-18 sign changes.
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    assert 16 <= crossings <= 19


@pytest.mark.parametrize("fmt", ["pcm_s16le", "mulaw"])
def test_frames_are_deterministic_and_continuous(fmt: str) -> None:
    pattern = [True] * 7 + [False] * 3 + [True] * 12
    first = AudioSource(fmt)
    second = AudioSource(fmt)
    a = [first.frames(p) for p in pattern]
    assert a == [second.frames(p) for p in pattern]
    first.reset()
    assert [first.frames(p) for p in pattern] == a
    # 440 Hz repeats every 200 samples: five 20 ms frames at both rates, so frame n+5 == frame n.
    source = AudioSource(fmt)
    run = [source.frames(True) for _ in range(10)]
    assert run[5:] == run[:5]
    assert len(set(run[:5])) == 5


@pytest.mark.parametrize("fmt", ["pcm_s16le", "mulaw"])
def test_sources_of_the_same_parameters_share_their_frames(fmt: str) -> None:
    # Computed once per set of parameters (a sine per websocket peer was ~0.3 ms of its call), the same bytes.
    first, second = AudioSource(fmt), AudioSource(fmt)
    assert all(first.frames(True) is second.frames(True) for _ in range(5))
    assert first.silence is second.silence
    other = AudioSource(fmt, tone_hz=500, amplitude=0.2)
    rate = other.sample_rate
    wave = [round(0.2 * 32767 * math.sin(2 * math.pi * 500 * n / rate)) for n in range(rate * 20 // 1000)]
    expected = bytes(mulaw_encode(s) for s in wave) if fmt == "mulaw" else struct.pack(f"<{len(wave)}h", *wave)
    assert other.frames(True) == expected
    assert other.frames(True) != first.frames(True)


def test_source_rejects_bad_parameters_and_has_repr() -> None:
    with pytest.raises(ValueError):
        AudioSource("wav")
    with pytest.raises(ValueError):
        AudioSource(tone_hz=0)
    with pytest.raises(ValueError):
        AudioSource(amplitude=1.5)
    assert repr(AudioSource("mulaw")) == "AudioSource(mulaw, 8000 Hz, 20 ms = 160 B, tone=440 Hz @ 0.1)"


def test_full_scale_tone_does_not_overflow() -> None:
    source = AudioSource("pcm_s16le", 48000, amplitude=1.0, tone_hz=1000)
    frame = source.frames(True)
    assert len(frame) == 1920
    assert max(abs(s) for s in struct.unpack("<960h", frame)) == 32767
