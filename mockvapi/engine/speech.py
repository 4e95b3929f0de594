"""Turn timing and speech: how text becomes LLM tokens, TTS chunks and spoken words, and when.

PROTOCOL.md section 3: user speech -> partial/final transcripts -> endpointing wait -> model tokens (one
`turnId` per LLM response) -> voice-input per sentence -> assistant speech -> conversation-update. All
times are milliseconds from call start.
"""

from __future__ import annotations

import math
import re

from mockvapi.engine.events import StepError
from mockvapi.engine.state import CallState, Utterance
from mockvapi.models.messages import (
    AssistantSpeechStarted,
    BotMessage,
    Hang,
    ModelToken,
    SpeechUpdate,
    Transcript,
    UserMessage,
    VoiceInput,
)
from mockvapi.scenario.schema import UserTurn

__all__ = ["Speech", "chunks", "tokenize", "tokens_for_words"]

_TOKEN_RE = re.compile(r"\s*(?:<[^>]*>|[\w'’]+|[^\w\s])")
_SENTENCE_END = frozenset(".!?;:")
# A user turn gets at most this many partial transcripts (turns under 128 words: one every 2 words).
MAX_PARTIALS = 64


def tokenize(text: str) -> list[str]:
    """Split text the way an LLM streams it: words with their leading space, punctuation apart."""
    tokens = _TOKEN_RE.findall(text.strip())
    assert "".join(tokens) == text.strip(), "tokens must concatenate to the text"
    return tokens


def chunks(tokens: list[str]) -> list[tuple[str, int]]:
    """Sentence chunks as TTS receives them: (text, index of the chunk's last token)."""
    out: list[tuple[str, int]] = []
    start = 0
    for i, token in enumerate(tokens):
        if (
            token.strip()
            and token.strip()[-1] in _SENTENCE_END
            and (i + 1 == len(tokens) or tokens[i + 1].startswith(" "))
        ):
            out.append(("".join(tokens[start : i + 1]).strip(), i))
            start = i + 1
    if start < len(tokens):
        out.append(("".join(tokens[start:]).strip(), len(tokens) - 1))
    return [(text, i) for text, i in out if text]


def tokens_for_words(tokens: list[str], words: int) -> int:
    """How many tokens make up the first `words` words (with the punctuation that follows them)."""
    seen = 0
    for i, token in enumerate(tokens):
        if i == 0 or token[:1].isspace():
            if seen == words:
                return i
            seen += 1
    return len(tokens)


class Speech:
    """Both parties' speech on one call: what each says is emitted as Vapi streams it and committed to
    history when said."""

    def __init__(self, call: CallState) -> None:
        self.call = call

    def speak(
        self, text: str, at_ms: float, *, streamed: bool, delay: float = 0.0, hang_after: float | None = None
    ) -> int:
        """The assistant says `text` (uninterrupted), starting its model or voice work at `at_ms`.

        `streamed`: the words come from the model (model-output tokens first); otherwise they go straight
        to the voice (a first message, `say`). Returns the time its speech ends.
        """
        call = self.call
        tokens = tokenize(text)
        if not tokens:
            return int(round(at_ms))  # blank text (say, a template that rendered empty): nothing is said
        sentences = chunks(tokens)
        turn_id = None
        if streamed:
            times = self.token_times(at_ms, len(tokens), delay, hang_after)
            turn_id = call.fakes.uuid()
            emit = call.emit
            for token, t in zip(tokens, times, strict=True):
                emit(t, ModelToken(turn_id, token))
            voice_times = [times[last] + 5 for _, last in sentences]
        else:
            voice_times = [at_ms for _ in sentences]
        if call.muted:
            # mute-assistant: the model's tokens still stream; the voice says nothing.
            return int(round(voice_times[-1] + 60))
        for (sentence, _), t in zip(sentences, voice_times, strict=True):
            call.emit(t, VoiceInput(input=sentence))
        start = voice_times[0] + call.jitter_ms(call.timing.voice_latency)
        return self.utter(sentences, start, voice_times, turn_id=turn_id, source="model" if streamed else "force-say")

    def longest(self, text: str) -> int:
        """The most milliseconds `speak(text, t, streamed=False)` can take from `t` to the time it returns
        (voice latency and word durations at their largest jitter)."""
        timing = self.call.timing
        words = len(text.split())
        seconds = (timing.voice_latency + words * 60 / timing.words_per_minute) * (1 + max(timing.jitter, 0))
        return int(math.ceil(seconds * 1000)) + 61

    def utter(
        self,
        sentences: list[tuple[str, int]],
        start: float,
        ready: list[float],
        *,
        turn_id: str | None = None,
        source: str = "force-say",
    ) -> int:
        """Speech of whole chunks from `start`: speech-updates, assistant transcripts, history."""
        call = self.call
        turn = call.turn
        call.turn += 1
        utterance = Utterance(turn, turn_id, " ".join(sentence for sentence, _ in sentences), source)
        call.utterances.append(utterance)
        total = sum(len(sentence.split()) for sentence, _ in sentences)
        # When each chunk is spoken (drawn first, in chunk order, so a cut changes no other timing).
        spans: list[tuple[float, float]] = []
        t = start
        for (sentence, _), ready_at in zip(sentences, ready, strict=True):
            t = max(t, ready_at)
            duration = call.jitter_ms(len(sentence.split()) * 60 / call.timing.words_per_minute)
            spans.append((t, duration))
            t += duration
        end = t
        if call.deadline is not None and call.deadline < round(end + 50):
            return self.cut_at_deadline(sentences, spans, start, utterance, total)
        call.emit(start, SpeechUpdate(status="started", role="assistant", turn=turn))
        utterance.started_at = start
        for (sentence, _), (t, duration) in zip(sentences, spans, strict=True):
            utterance.segments.append((sentence, t, t + duration))
            self.speech_started(utterance, t, total)
            self._sentence_transcripts(sentence, t, duration)
        # Vapi reports the last final transcript before the speech stop.
        call.emit(end + 40, SpeechUpdate(status="stopped", role="assistant", turn=turn))
        # Every sentence was said: history's message is the utterance's own text (one string, not an equal copy).
        self.bot(utterance.text, start, end)
        return int(round(end + 60))

    def _sentence_transcripts(self, sentence: str, t: float, duration: float) -> None:
        """The assistant's transcripts of one sentence spoken from `t`: a partial halfway (4 words or more),
        the final just after it ends."""
        words = sentence.split()
        if len(words) >= 4:
            self.call.emit(
                t + duration / 2,
                Transcript(role="assistant", transcript_type="partial", transcript=" ".join(words[: len(words) // 2])),
            )
        self.call.emit(t + duration + 30, Transcript(role="assistant", transcript_type="final", transcript=sentence))

    def cut_at_deadline(
        self,
        sentences: list[tuple[str, int]],
        spans: list[tuple[float, float]],
        start: float,
        utterance: Utterance,
        total: int,
    ) -> int:
        """maxDurationSeconds runs out while this speech is due: it stops at the deadline, and history and
        the final transcripts keep only the words spoken by then. The utterance records only the segments
        whose voice started before the deadline (as planned, so a live control reads the same times).
        Returns the deadline."""
        call = self.call
        turn = utterance.turn
        deadline = call.deadline
        assert deadline is not None
        call.overran = True
        if start > deadline:
            return deadline  # the call ends before the voice starts: nothing of it is heard
        call.emit(start, SpeechUpdate(status="started", role="assistant", turn=turn))
        utterance.started_at = start
        spoken: list[str] = []
        late: list[str] = []  # spoken words whose final transcript would come after the deadline
        for (sentence, _), (t, duration) in zip(sentences, spans, strict=True):
            words = sentence.split()
            if t >= deadline:
                break
            utterance.segments.append((sentence, t, t + duration))
            self.speech_started(utterance, t, total)
            if t + duration + 30 <= deadline:
                self._sentence_transcripts(sentence, t, duration)
                spoken.append(sentence)
                continue
            said = words if t + duration <= deadline else words[: int(len(words) * (deadline - t) / duration)]
            late.extend(said)
            if len(said) < len(words):
                break
        if late:
            call.emit(deadline, Transcript(role="assistant", transcript_type="final", transcript=" ".join(late)))
            spoken.append(" ".join(late))
        call.emit(deadline, SpeechUpdate(status="stopped", role="assistant", turn=turn))
        if spoken:
            self.bot(" ".join(spoken), start, deadline)
        return deadline

    def speech_started(self, utterance: Utterance, at_ms: float, total_words: int) -> None:
        """`assistant.speechStarted` (opt-in) as the utterance's latest segment starts playing: the whole
        turn's text, and word progress up to and including that segment."""
        call = self.call
        context = call.context
        sentence, start, end = utterance.segments[-1]
        utterance.words_started += len(sentence.split())
        message = AssistantSpeechStarted(
            text=utterance.text,
            turn=utterance.turn,
            source="model" if utterance.source == "model" else "force-say",
            timing={
                "type": "word-progress",
                "wordsSpoken": utterance.words_started,
                "totalWords": total_words,
                "segment": sentence,
                "segmentDurationMs": int(round(end - start)),
            },
        )
        if context.wants(message, "server") or context.wants(message, "client"):
            call.emit(at_ms, message)

    def bot(self, text: str, start: float, end: float) -> None:
        """Commit what the assistant said between `start` and `end` to history."""
        call = self.call
        start_i, end_i = int(round(start)), int(round(end))
        call.remember(
            BotMessage(
                message=text,
                time=call.start_ms + start_i,
                end_time=call.start_ms + end_i,
                seconds_from_start=call.seconds(start),
                duration=end_i - start_i,
                source="",
            ),
            end + 50,
        )

    def token_times(self, at_ms: float, count: int, delay: float, hang_after: float | None) -> list[float]:
        """When each of `count` tokens streams; a first token later than the hang threshold sends `hang`."""
        call = self.call
        timing = call.timing
        first = at_ms + delay * 1000 + call.jitter_ms(timing.first_token_latency)
        threshold = (timing.hang_after if hang_after is None else hang_after) * 1000
        if first - at_ms > threshold:
            call.emit(at_ms + threshold, Hang())
        times = [first]
        t = first
        # `call.jitter_ms(gap)` per token, drawn in one call: the same values (x * 1000 of the same jitter).
        for jitter in call.fakes.jitters(1 / timing.tokens_per_second, timing.jitter, count - 1):
            t = t + jitter * 1000
            times.append(t)
        return times

    def user_turn(self, turn: UserTurn) -> None:
        """A `user:` step: the customer speaks after their pause; the cursor moves to when the model may answer."""
        call = self.call
        if turn.barge_in is not None:
            raise StepError(
                ("user", "barge_in"),
                "barge_in talks over the first message: it belongs on the first step, with a firstMessage "
                "the assistant speaks first",
            )
        text = call.render(turn.say, ("user", "say"))
        pause = call.timing.user_pause if turn.after is None else turn.after
        start = call.cursor + call.jitter_ms(pause)
        call.cursor = self.user_speech(text, start, turn.confidence)

    def _partials(self, words: list[str], start: float, duration: float) -> None:
        """Partial transcripts of the user's words so far: one every 2 words, or, for a long turn, at most
        `MAX_PARTIALS` evenly spread (each carries every word so far, so one per 2 words would make a long
        turn cost the square of its words)."""
        step = max(2, -(-len(words) // MAX_PARTIALS))
        for k in range(step, len(words), step):
            self.call.emit(
                start + duration * k / len(words) + 120,
                Transcript(role="user", transcript_type="partial", transcript=" ".join(words[:k])),
            )

    def user_speech(self, text: str, start: float, confidence: float, min_end: float = 0.0) -> int:
        """The user says `text` from `start` (until `min_end` at least); returns when the model may answer."""
        call = self.call
        words = text.split()
        duration = max(call.jitter_ms(len(words) * 60 / call.timing.user_words_per_minute), min_end - start)
        deadline = call.deadline
        if deadline is not None and deadline < round(start + duration + 250):
            # The call ends (maxDurationSeconds) before the user's turn is final: partials only.
            call.overran = True
            if start <= deadline:
                call.emit(start, SpeechUpdate(status="started", role="user"))
                self._partials(words, start, duration)
                call.emit(deadline, SpeechUpdate(status="stopped", role="user"))
            return deadline
        call.emit(start, SpeechUpdate(status="started", role="user"))
        self._partials(words, start, duration)
        end = start + duration
        call.emit(
            end + 150,
            Transcript(
                role="user", transcript_type="final", transcript=text, confidence=round(confidence, 2)
            ),
        )
        call.emit(end + 200, SpeechUpdate(status="stopped", role="user"))
        start_i, end_i = int(round(start)), int(round(end))
        call.remember(
            UserMessage(
                message=text,
                time=call.start_ms + start_i,
                end_time=call.start_ms + end_i,
                seconds_from_start=call.seconds(start),
                duration=end_i - start_i,
            ),
            end + 250,
        )
        return int(round(end + 200 + call.timing.wait_seconds * 1000))
