"""Barge-in: an assistant answer cut by the customer (or by their hanging up), after N tokens or seconds.

Everything the model streamed before the cut was delivered (clients must drop it); history keeps only
the words spoken by the cut; the interrupting words are the customer's next turn.
"""

from __future__ import annotations

from mockvapi.engine.events import StepError
from mockvapi.engine.speech import Speech, chunks, tokenize, tokens_for_words
from mockvapi.engine.state import CallState, Utterance
from mockvapi.models.messages import (
    BotMessage,
    ModelToken,
    SpeechUpdate,
    Transcript,
    UserInterrupted,
    VoiceInput,
)
from mockvapi.scenario.schema import AssistantTurn, Interruption, UserTurn

__all__ = ["Interruptions"]


class Interruptions:
    def __init__(self, call: CallState, speech: Speech) -> None:
        self.call = call
        self.speech = speech

    def interrupted(self, text: str, turn: AssistantTurn, *, streamed: bool = True) -> int:
        """The assistant starts saying `text` and is cut as `turn.interrupted` says; returns the cursor after.

        `streamed=False`: the words go straight to the voice (a first message), so no model-output
        streams and the user-interrupted has no turnId to name (the spec makes it optional)."""
        call, speech = self.call, self.speech
        timing = call.timing
        cut = turn.interrupted
        assert cut is not None
        tokens = tokenize(text)
        if not tokens:
            raise StepError(("assistant", "say"), "an interrupted answer needs words to cut; the text is blank")
        sentences = chunks(tokens)
        at = call.cursor
        if streamed:
            times = speech.token_times(at, len(tokens), turn.delay, turn.hang_after)
        else:
            times = [at - 5.0] * len(tokens)  # all of it reaches the voice at once (voice-input at `at`)
        natural_start = times[sentences[0][1]] + 5 + call.jitter_ms(timing.voice_latency)
        kind, amount = cut.after
        speech_start = natural_start
        if kind == "tokens":
            # `after: N tokens`: the assistant got the first N tokens' words out. The LLM streams faster
            # than speech, so the cut comes when those words have been spoken, not when they streamed.
            spoken_count = int(amount)
            if spoken_count >= len(tokens):
                raise StepError(
                    ("assistant", "interrupted", "after"),
                    f"interruption after {spoken_count} tokens, but the answer has only {len(tokens)} "
                    f"tokens: {tokens!r:.120}",
                )
            spoken_words = len("".join(tokens[:spoken_count]).split())
            cut_ms = speech_start + max(call.jitter_ms(spoken_words * 60 / timing.words_per_minute), 0.002)
            cut_ms = max(cut_ms, times[spoken_count - 1] + 2)  # TTS cannot say what has not streamed yet
        else:
            # A cut needs a moment of speech: the interrupting voice starts between speech start and cut.
            cut_ms = speech_start + max(amount * 1000, 2)
            words = int((cut_ms - speech_start) / 1000 * timing.words_per_minute / 60)
            spoken_count = max(1, tokens_for_words(tokens, words))
        if call.deadline is not None and call.deadline < round(cut_ms + 50) and streamed:
            return self.until_deadline(tokens, times)
        # Everything streamed before the cut was delivered (clients must drop it); no token follows the cut.
        count = max(spoken_count, sum(1 for t in times if t < cut_ms))
        spoken_count = min(spoken_count, count)
        delivered = tokens[:count]
        model_turn = call.fakes.uuid()
        turn_id: str | None = model_turn
        for token, t in zip(delivered, times, strict=False):
            if streamed:
                call.emit(t, ModelToken(model_turn, token))
        if not streamed:
            turn_id = None
        for sentence, last in chunks(delivered):
            call.emit(times[last] + 5, VoiceInput(input=sentence))
        said = chunks(tokens[:spoken_count])
        spoken_turn = call.turn
        call.turn += 1
        call.emit(speech_start, SpeechUpdate(status="started", role="assistant", turn=spoken_turn))
        utterance = Utterance(spoken_turn, turn_id, text.strip(), "model" if streamed else "force-say",
                              started_at=speech_start)
        call.utterances.append(utterance)
        total = len(text.split())
        # Assistant finals: whole chunks spoken before the cut, then the rest of what was said.
        t = speech_start
        finished = 0
        for sentence, _ in said:
            duration = call.jitter_ms(len(sentence.split()) * 60 / timing.words_per_minute)
            if t + duration + 30 >= cut_ms:
                break
            utterance.segments.append((sentence, t, t + duration))
            speech.speech_started(utterance, t, total)
            t += duration
            call.emit(t + 30, Transcript(role="assistant", transcript_type="final", transcript=sentence))
            finished += 1
        rest = " ".join(sentence for sentence, _ in said[finished:])
        if rest:
            utterance.segments.append((rest, t, cut_ms))
            speech.speech_started(utterance, t, total)
        spoken = "".join(tokens[:spoken_count]).strip()
        if cut.hangup:
            call.emit(cut_ms, SpeechUpdate(status="stopped", role="assistant", turn=spoken_turn))
            if rest:
                call.emit(cut_ms + 30, Transcript(role="assistant", transcript_type="final", transcript=rest))
            speech.bot(spoken, speech_start, cut_ms)
            return int(round(cut_ms + 300))
        by = call.render(cut.by or "", ("assistant", "interrupted", "by"))
        user_start = max(speech_start + 50, cut_ms - timing.voice_seconds * 1000)
        if user_start >= cut_ms:
            # At least 1 ms (after rounding) before the cut: the voice that cuts in must already be heard.
            user_start = min((speech_start + cut_ms) / 2, round(cut_ms) - 1)
        call.emit(cut_ms, UserInterrupted(turn_id=turn_id))
        call.emit(cut_ms + 20, SpeechUpdate(status="stopped", role="assistant", turn=spoken_turn))
        if rest:
            call.emit(cut_ms + 30, Transcript(role="assistant", transcript_type="final", transcript=rest))
        speech.bot(spoken, speech_start, cut_ms)
        # The interrupting words are the user's next turn; their speech began just before the cut, and
        # they are still speaking at the cut (it is their voice that cuts in), so their history item
        # follows the cut turn's bot item.
        resume = speech.user_speech(by, user_start, 0.9, min_end=cut_ms)
        return max(resume, int(round(cut_ms + timing.backoff_seconds * 1000)))

    def until_deadline(self, tokens: list[str], times: list[float]) -> int:
        """maxDurationSeconds runs out before the cut: the answer streams and is said until the call ends."""
        call = self.call
        call.overran = True
        turn_id = call.fakes.uuid()
        for token, t in zip(tokens, times, strict=True):
            call.emit(t, ModelToken(turn_id, token))
        sentences = chunks(tokens)
        ready = [times[last] + 5 for _, last in sentences]
        for (sentence, _), t in zip(sentences, ready, strict=True):
            call.emit(t, VoiceInput(input=sentence))
        return self.speech.utter(
            sentences, ready[0] + call.jitter_ms(call.timing.voice_latency), ready, turn_id=turn_id, source="model"
        )

    def first_message(self, text: str, generated: bool, user: UserTurn, path: tuple[str | int, ...]) -> int:
        """The first message, with the user's first turn starting `user.barge_in` into it.

        With firstMessageInterruptionsEnabled the user cuts it as in any barge-in. Without (Vapi's default)
        it plays whole and the user's words, begun over it, are their turn once it has ended.
        Returns the cursor after the user's turn."""
        call, speech = self.call, self.speech
        assert user.barge_in is not None
        said = str(call.render(user.say, (*path, "say")))
        if call.settings.first_message_interruptions:
            cut = Interruption(after=user.barge_in, by=said)
            return self.interrupted(text, AssistantTurn(say=text, interrupted=cut), streamed=generated)
        end = speech.speak(text, call.cursor, streamed=generated)
        bot = call.history[-1] if call.history else None
        started = (bot.time - call.start_ms) if isinstance(bot, BotMessage) else call.cursor
        begin = started + user.barge_in * 1000
        if call.overran:
            return end
        resume = speech.user_speech(said, begin, user.confidence, min_end=end if begin < end else 0.0)
        return resume
