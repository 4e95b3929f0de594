from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest

from mockvapi.engine.journal import (
    DEFAULT_MAX_BYTES,
    Delivery,
    Journal,
    KeptMessage,
    MessageSource,
    OfMessage,
    Problem,
)


def _delivery(
    call_id: str = "call-1", type: str = "status-update", channel: str = "webhook", **kw: Any
) -> Delivery:
    return Delivery(
        call_id=call_id,
        channel=channel,
        target=kw.pop("target", "http://127.0.0.1:9/hook"),
        message_type=type,
        message=kw.pop("message", {"type": type}),
        at=kw.pop("at", 0.5),
        **kw,
    )


def test_delivery_ok_depends_on_error_and_status() -> None:
    assert _delivery().ok
    assert _delivery(status=204).ok
    assert not _delivery(status=500).ok
    assert not _delivery(status=302).ok
    assert not _delivery(error="connection refused").ok
    assert not _delivery(status=200, error="bad json").ok


def test_delivery_to_dict_is_json_serialisable() -> None:
    d = _delivery(
        status=200,
        request_headers={"x-vapi-secret": "s"},
        request_body='{"message": {}}',
        response_json={"results": [{"toolCallId": "t1", "result": "ok"}]},
        latency=0.012,
    )
    data = json.loads(json.dumps(d.to_dict()))
    assert data["ok"] is True
    assert data["response_json"]["results"][0]["toolCallId"] == "t1"
    assert Delivery.from_dict(data) == d


def test_delivery_repr_is_short_and_readable() -> None:
    d = _delivery(type="tool-calls", status=500, attempts=3, at=1.25)
    d.seq = 7
    assert repr(d) == (
        "Delivery(#7 tool-calls -> webhook http://127.0.0.1:9/hook, call=call-1, at=1.250s, "
        "status=500, attempts=3)"
    )
    assert "error='timeout'" in repr(_delivery(error="timeout"))


def test_record_assigns_increasing_seq_and_returns_the_delivery() -> None:
    journal = Journal()
    first = journal.record(_delivery())
    second = journal.record(_delivery())
    assert (first.seq, second.seq) == (1, 2)
    assert list(journal) == [first, second]
    assert len(journal) == 2


def test_deliveries_filters_combine() -> None:
    journal = Journal()
    journal.record(_delivery("a", "status-update", "webhook", status=200))
    journal.record(_delivery("a", "tool-calls", "webhook", status=500))
    journal.record(_delivery("b", "tool-calls", "webhook", error="timeout"))
    journal.record(_delivery("b", "transcript", "client"))

    def seqs(ds: list[Delivery]) -> list[int]:
        return [d.seq for d in ds]

    assert seqs(journal.deliveries()) == [1, 2, 3, 4]
    assert seqs(journal.deliveries(call_id="a")) == [1, 2]
    assert seqs(journal.deliveries(type="tool-calls")) == [2, 3]
    assert seqs(journal.deliveries(channel="client")) == [4]
    assert seqs(journal.deliveries(outcome="ok")) == [1, 4]
    assert seqs(journal.deliveries(outcome="failed")) == [2, 3]
    assert seqs(journal.deliveries(call_id="b", type="tool-calls", outcome="failed")) == [3]
    assert journal.deliveries(call_id="nope") == []


def test_bound_evicts_oldest_and_counts_dropped() -> None:
    journal = Journal(max_entries=3)
    for _ in range(5):
        journal.record(_delivery())
    assert [d.seq for d in journal] == [3, 4, 5]
    assert journal.dropped == 2
    for i in range(4):
        journal.problem(Problem("call-1", "timeout", f"slow {i}", 1.0))
    assert [p.detail for p in journal.problems] == ["slow 1", "slow 2", "slow 3"]
    assert journal.dropped == 3
    with pytest.raises(ValueError):
        Journal(max_entries=0)


def test_byte_budget_evicts_the_oldest_replies_never_the_newest() -> None:
    journal = Journal(max_bytes=1000)
    first = journal.record(_delivery(response_body="a" * 400))
    journal.record(_delivery(request_body="b" * 300))  # a request body kept as text counts too
    assert journal.held_bytes == 700 and journal.dropped == 0
    # A transport fills the response in after recording: `settled` counts it then.
    third = journal.record(_delivery(call_id="call-2"))
    third.response_body = "c" * 500
    assert journal.held_bytes == 700
    journal.settled(third)
    assert [d.seq for d in journal] == [2, 3] and journal.held_bytes == 800 and journal.dropped == 1
    journal.settled(first)  # evicted already: nothing to count
    assert journal.held_bytes == 800
    huge = journal.record(_delivery(response_body="d" * 5000))
    assert list(journal) == [huge] and journal.held_bytes == 5000 and journal.dropped == 3
    journal.clear(huge.call_id)
    assert journal.held_bytes == 0 and len(journal) == 0
    # A request body kept as the way to encode it again holds nothing of its own.
    journal.record(_delivery(request_body=lambda: "e" * 2000))
    assert journal.held_bytes == 0 and journal.deliveries()[0].request_body == "e" * 2000
    with pytest.raises(ValueError):
        Journal(max_bytes=0)


def test_a_parsed_reply_counts_as_its_text_once_more() -> None:
    # The parsed value's strings are about as long as the text, and the journal keeps it after the call
    # (which shares it) is forgotten: a budget counting the text alone would hold twice what it says.
    journal = Journal(max_bytes=2500)
    reply = '{"results": [{"result": "%s"}]}' % ("x" * 1000)
    first = journal.record(_delivery(response_body=reply, response_json=json.loads(reply)))
    assert journal.held_bytes == 2 * len(reply)
    journal.record(_delivery(response_body=reply))  # text the transport could not parse: once
    assert [d.seq for d in journal] == [2] and journal.dropped == 1 and first.seq == 1
    assert journal.held_bytes == len(reply)
    assert Journal().max_bytes == DEFAULT_MAX_BYTES == 64 * 1024 * 1024


def test_equal_short_replies_share_one_text_and_the_accounting_holds() -> None:
    # Most servers answer most messages alike ("{}"): each delivery held a string of its own (memory per
    # live call, issue 17). Equal short texts are now one string; a long one stays the delivery's own.
    journal = Journal(max_bytes=10_000)
    texts = ["".join(["{", "}"]) for _ in range(3)]  # equal, three distinct objects
    assert texts[0] is not texts[1]
    kept = [journal.record(_delivery(response_body=texts[0]))]
    for text in texts[1:]:
        late = journal.record(_delivery())
        late.response_body = text  # filled in by the transport after recording
        journal.settled(late)
        kept.append(late)
    assert [d.response_body for d in kept] == ["{}"] * 3
    assert kept[0].response_body is kept[1].response_body is kept[2].response_body
    long_text = "x" * 500
    own = journal.record(_delivery(response_body="".join(long_text)))
    assert own.response_body == long_text and journal.held_bytes == 3 * 2 + 500
    journal.clear(kept[0].call_id)
    assert journal.held_bytes == 0 and len(journal) == 0
    journal.settled(own)  # no longer kept: nothing to count
    assert journal.held_bytes == 0


def test_problems_and_problems_for() -> None:
    journal = Journal()
    journal.problem(Problem("a", "non-200-reply", "HTTP 500", 1.0, delivery_seq=2))
    journal.problem(Problem("b", "unknown-tool-call-id", "call_x", 2.0))
    assert [p.kind for p in journal.problems] == ["non-200-reply", "unknown-tool-call-id"]
    assert journal.problems_for("a") == [Problem("a", "non-200-reply", "HTTP 500", 1.0, delivery_seq=2)]
    assert str(journal.problems[0]) == "call a at 1.000s: non-200-reply: HTTP 500 (delivery #2)"


def test_clear_all_or_one_call() -> None:
    journal = Journal(max_entries=2)
    for call in ("a", "b", "a"):
        journal.record(_delivery(call))
    journal.problem(Problem("a", "timeout", "t", 1.0))
    journal.problem(Problem("b", "timeout", "t", 1.0))
    journal.clear("a")
    assert [d.call_id for d in journal] == ["b"]  # the first "a" had already been evicted
    assert [p.call_id for p in journal.problems] == ["b"]
    assert journal.dropped == 1
    journal.clear()
    assert len(journal) == 0 and journal.problems == [] and journal.dropped == 0
    assert journal.record(_delivery()).seq == 1


def test_jsonl_round_trip(tmp_path: Path) -> None:
    journal = Journal(max_entries=2)
    for i in range(3):
        journal.record(_delivery(message={"type": "transcript", "transcript": f"héllo {i}"}, status=200))
    journal.problem(Problem("call-1", "bad-tool-result", "missing results", 0.5, delivery_seq=3))
    text = journal.to_jsonl()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line.get("seq") for line in lines[:2]] == [2, 3]
    assert lines[2] == {"problem": journal.problems[0].to_dict()}
    assert lines[-1] == {"dropped": 1}

    path = tmp_path / "journal.jsonl"
    journal.write_jsonl(path)
    again = Journal.from_jsonl(path.read_text(encoding="utf-8"))
    assert again.deliveries() == journal.deliveries()
    assert again.problems == journal.problems
    assert again.dropped == 1
    assert again.record(_delivery()).seq == 4


def test_jsonl_has_no_dropped_line_when_nothing_was_dropped() -> None:
    journal = Journal()
    assert journal.to_jsonl() == ""
    journal.record(_delivery())
    assert "dropped" not in journal.to_jsonl().splitlines()[-1]


def test_repr_counts() -> None:
    journal = Journal(max_entries=1)
    assert repr(journal) == "Journal(0 deliveries, 0 problems, 0 dropped)"
    journal.record(_delivery())
    journal.record(_delivery())
    journal.problem(Problem("call-1", "expectation", "x", 0.0))
    assert repr(journal) == "Journal(1 delivery, 1 problem, 1 dropped)"


def test_record_from_many_threads_keeps_seq_unique() -> None:
    journal = Journal(max_entries=10_000)

    def worker() -> None:
        for _ in range(500):
            journal.record(_delivery())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [d.seq for d in journal]
    assert seqs == list(range(1, 2001))


def test_a_request_body_kept_as_a_function_of_the_message_reads_as_its_text() -> None:
    journal = Journal(max_bytes=10)
    encode = OfMessage(lambda message: json.dumps({"message": message}))
    first = journal.record(_delivery(message={"type": "status-update", "n": 1}, request_body=encode))
    second = journal.record(_delivery(message={"type": "status-update", "n": 2}, request_body=encode))
    assert first.request_body == '{"message": {"type": "status-update", "n": 1}}'
    assert second.request_body == '{"message": {"type": "status-update", "n": 2}}'
    assert journal.held_bytes == 0 and journal.dropped == 0  # nothing of its own: one shared encoder
    line = json.loads(journal.to_jsonl().splitlines()[1])
    assert line["request_body"] == second.request_body
    assert Journal.from_jsonl(journal.to_jsonl()).deliveries()[0].request_body == first.request_body


def test_a_delivery_holding_nothing_is_counted_and_kept_within_the_budget() -> None:
    # `record` counts a delivery with no reply and no request text without the general path: it must still
    # be counted (so `settled` counts its reply later), and still trim a journal one huge reply took over.
    journal = Journal(max_bytes=1000)
    huge = journal.record(_delivery(response_body="a" * 5000))  # the newest is never evicted
    assert list(journal) == [huge] and journal.held_bytes == 5000
    empty = journal.record(_delivery())
    assert list(journal) == [empty] and journal.held_bytes == 0 and journal.dropped == 1
    empty.response_body = "b" * 300
    journal.settled(empty)
    assert journal.held_bytes == 300
    again = journal.record(_delivery(request_body=lambda: "c" * 2000))  # encoded on read: holds nothing
    assert journal.held_bytes == 300 and again.request_body == "c" * 2000


def test_a_delivery_has_slots_and_its_request_body_still_reads_as_text() -> None:
    # A live call keeps a delivery per message: slots, not an instance dict (~56 bytes less each). The
    # request body's slot still holds text, a function or OfMessage, and reads as text, copied or not.
    journal = Journal()
    delivery = journal.record(_delivery(message={"type": "status-update"}, request_body=OfMessage(json.dumps)))
    assert not hasattr(delivery, "__dict__")
    with pytest.raises(AttributeError):
        delivery.colour = "blue"  # type: ignore[attr-defined]
    assert delivery.request_body == '{"type": "status-update"}'
    assert copy.copy(delivery).request_body == delivery.request_body
    assert dataclasses.replace(delivery, at=2.0).request_body == delivery.request_body
    kept_as_text = _delivery(request_body="body")
    assert pickle.loads(pickle.dumps(kept_as_text)) == kept_as_text
    assert "_journal_counted" not in delivery.to_dict()
    assert [f.name for f in dataclasses.fields(Delivery)][-4:] == ["attempts", "error", "injected", "sent"]


class _Renders(MessageSource):
    __slots__ = ("reads",)

    def __init__(self) -> None:
        self.reads = 0

    def render(self, index: int, frame: tuple[Any, ...]) -> dict[str, Any]:
        self.reads += 1
        return {"type": "status-update", "n": index, "call": frame[0]}


def test_a_message_kept_as_the_way_to_render_it_reads_as_the_message() -> None:
    source, call = _Renders(), {"id": "call-1"}
    journal = Journal()
    delivery = journal.record(_delivery(message=KeptMessage(source, 4, (call,)), request_body=OfMessage(json.dumps)))
    assert source.reads == 0 and journal.held_bytes == 0  # recording it renders nothing, and it holds no text
    expected = {"type": "status-update", "n": 4, "call": {"id": "call-1"}}
    assert delivery.message == expected and delivery.message is not delivery.message  # rendered on each read
    assert delivery.request_body == json.dumps(expected)
    assert delivery.to_dict()["message"] == expected
    assert Delivery.from_dict(delivery.to_dict()) == delivery
    assert json.loads(journal.to_jsonl())["message"] == expected
    delivery.message = {"type": "replaced"}
    assert delivery.message == {"type": "replaced"}


def test_the_deliverys_own_init_takes_every_field_with_the_fields_defaults() -> None:
    # `Delivery.__init__` is written out (lever 97): it must stay the dataclass's, field for field.
    import inspect

    parameters = inspect.signature(Delivery.__init__).parameters
    names = [f.name for f in dataclasses.fields(Delivery)]
    assert list(parameters)[1:] == names
    for f in dataclasses.fields(Delivery):
        parameter = parameters[f.name]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        if f.default_factory is not dataclasses.MISSING:
            assert parameter.default is None  # a new value of the factory's each time
        elif f.default is dataclasses.MISSING:
            assert parameter.default is inspect.Parameter.empty, f.name
        else:
            assert parameter.default == f.default, f.name
    first, second = _delivery(), _delivery()
    assert first.request_headers == {} and first.request_headers is not second.request_headers
    assert first == Delivery.from_dict(first.to_dict())
    source = _Renders()
    kept = _delivery(message=KeptMessage(source, 2, ({"id": "c"},)), request_body=OfMessage(json.dumps))
    assert kept.message == {"type": "status-update", "n": 2, "call": {"id": "c"}}
    assert kept.request_body == json.dumps(kept.message)


# -- a settled webhook's delivery kept as a row of its call's run (memory per live call, issue 17) ------------


def _kept(source: MessageSource, index: int, call_id: str = "call-1", **kw: Any) -> Delivery:
    frame = kw.pop("frame", ({"id": call_id},))
    return _delivery(call_id, message=KeptMessage(source, index, frame), request_body=OfMessage(json.dumps), **kw)


def _settle(journal: Journal, delivery: Delivery, *, latency: float = 0.003, **response: Any) -> None:
    # What a webhook transport does once the reply is in (transports.webhook `_fill`).
    delivery.latency = latency
    delivery.status = response.pop("status", 200)
    delivery.response_body = response.pop("response_body", "{}")
    delivery.response_json = response.pop("response_json", None)
    for name, value in response.items():
        setattr(delivery, name, value)
    journal.settled(delivery)


def test_a_settled_webhook_reads_back_equal_but_the_journal_no_longer_holds_its_object() -> None:
    source = _Renders()
    journal = Journal()
    headers = {"x-vapi-secret": "s"}
    recorded = [journal.record_webhook(_kept(source, i, at=0.1 * i + 1e-9, request_headers=headers)) for i in range(5)]
    # Until settled, a reader gets the very object the transport fills in.
    assert [d is r for d, r in zip(journal.deliveries(), recorded, strict=True)] == [True] * 5
    expected = []
    for i, delivery in enumerate(recorded):
        _settle(journal, delivery, latency=0.001 * (i + 1) + 1e-12)
        expected.append(delivery.to_dict())
    read = journal.deliveries()
    assert [d.to_dict() for d in read] == expected and read == recorded
    assert [repr(d) for d in read] == [repr(d) for d in recorded]
    assert [(d.at, d.latency, d.seq) for d in read] == [(d.at, d.latency, d.seq) for d in recorded]  # exact
    assert all(d is not r for d, r in zip(read, recorded, strict=True))
    assert all(d.request_headers is headers for d in read)  # shared, as the recorded ones shared it
    assert not any(isinstance(e, Delivery) for e in journal._deliveries)
    assert journal.to_jsonl() == "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in expected)
    assert journal.held_bytes == 5 * 2  # each reply's "{}"
    # Neither reading nor settling again changes what the journal counts.
    journal.settled(recorded[0])
    journal.settled(read[0])
    assert journal.held_bytes == 10 and journal.deliveries() == recorded


def test_webhook_rows_of_interleaved_calls_keep_their_order_filters_bound_budget_and_clear() -> None:
    source = _Renders()
    journal = Journal(max_entries=40, max_bytes=10_000)
    recorded: list[Delivery] = []
    for i in range(60):
        call_id = f"call-{i % 3}"
        if i % 7 == 3:
            recorded.append(journal.record(_delivery(call_id, "transcript", "client")))  # a plain delivery between
            continue
        delivery = journal.record_webhook(_kept(source, i, call_id, at=float(i)))
        recorded.append(delivery)
        if i % 5 == 4:
            continue  # never settled (a request the network lost): stays the object
        # Replies that differ from the previous one (a status, a text, an error) make their own shared part.
        status = 500 if i % 11 == 0 else 200
        _settle(journal, delivery, status=status, response_body='{"x":1}' if i % 13 == 0 else "{}",
                error="boom" if i % 17 == 0 else None)
    kept = recorded[-40:]
    assert journal.deliveries() == kept and [d.seq for d in journal] == list(range(21, 61))
    assert journal.dropped == 20
    assert journal.held_bytes == sum(d.held_chars() for d in kept)
    for call_id in ("call-0", "call-1", "call-2"):
        assert journal.deliveries(call_id=call_id) == [d for d in kept if d.call_id == call_id]
    assert journal.deliveries(outcome="failed") == [d for d in kept if not d.ok]
    assert journal.deliveries(channel="client") == [d for d in kept if d.channel == "client"]
    unsettled = [d for d in kept if d.latency is None and d.channel == "webhook"]
    assert unsettled and all(any(d is u for d in journal.deliveries()) for u in unsettled)
    journal.clear("call-1")
    rest = [d for d in kept if d.call_id != "call-1"]
    assert journal.deliveries() == rest and journal.held_bytes == sum(d.held_chars() for d in rest)
    # The budget evicts rows too, oldest first, never the newest.
    late = journal.record_webhook(_kept(source, 99, "call-0", at=99.0))
    _settle(journal, late, response_body="y" * 10_000)
    left = journal.deliveries()
    assert left[-1] == late and journal.held_bytes == 10_000 and journal.dropped > 20
    assert left == rest[len(rest) - len(left) + 1:] + [late] and not any(d.held_chars() for d in left[:-1])
    journal.clear()
    assert journal.deliveries() == [] and journal.held_bytes == 0 and len(journal) == 0
    late.response_body = "z"
    journal.settled(late)  # gone: nothing to count
    assert journal.held_bytes == 0


def test_a_long_webhook_call_in_a_small_journal_holds_only_its_kept_rows() -> None:
    source = _Renders()
    journal = Journal(max_entries=10)
    for i in range(1000):
        _settle(journal, journal.record_webhook(_kept(source, i, at=float(i))))
    (run,) = set(journal._deliveries)
    assert len(run) == 10 and len(run.refs) <= 3 * 2 * 16 + 30  # the rows let go are dropped, not kept
    assert [d.message["n"] for d in journal] == list(range(990, 1000)) and journal.dropped == 990


async def test_a_played_calls_journal_reads_back_every_webhook_as_recorded() -> None:
    from mockvapi.library import resolve
    from mockvapi.testing import MockVapi

    async with MockVapi(webhook=lambda body: {}) as vapi:
        recorded: list[Delivery] = []
        record = vapi.journal.record

        def keep(delivery: Delivery) -> Delivery:
            recorded.append(delivery)
            return record(delivery)

        vapi.journal.record = keep  # type: ignore[method-assign]
        record_webhook = vapi.journal.record_webhook

        def keep_webhook(delivery: Delivery) -> Delivery:
            recorded.append(delivery)
            return record_webhook(delivery)

        vapi.journal.record_webhook = keep_webhook  # type: ignore[method-assign]
        call = await vapi.play(resolve("happy-path"))
        recorded = list({id(d): d for d in recorded}.values())  # `record_webhook` hands anything else to `record`
        read = vapi.journal.deliveries()
        assert read == recorded and [d.to_dict() for d in read] == [d.to_dict() for d in recorded]
        webhooks = call.deliveries(channel="webhook")
        assert len(webhooks) > 10 and all(d.status == 200 for d in webhooks)
        assert not any(d is r for d in webhooks for r in recorded)  # made again from the journal's rows
