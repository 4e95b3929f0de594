"""`mockvapi new NAME`: a commented scenario to start from, with editor autocompletion wired up."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mockvapi.errors import MockVapiError

__all__ = ["SCHEMA_FILE", "scaffold", "scenario_template"]

SCHEMA_FILE = "mockvapi.schema.json"

_TEMPLATE = """\
# yaml-language-server: $schema=./{schema}
#
# A mockvapi scenario: one Vapi call, step by step. mockvapi turns it into the messages Vapi would
# send (status-update, transcript, model-output, tool-calls, conversation-update, hang,
# end-of-call-report...) and plays them against your server:
#
#   mockvapi validate {file}                    # is it a valid scenario?
#   mockvapi show {file}                        # the call as a readable timeline
#   mockvapi lint {file}                        # legal, but probably not what you meant?
#   mockvapi run {file} --to http://127.0.0.1:8000/vapi/webhook
#
# Durations are seconds (2), or strings like 650ms, 1.4s, 2m. Strings may use templates:
# {{{{ faker.name }}}}, {{{{ e164_phone_number }}}}, {{{{ customer.name }}}}, {{{{ next_weekday('tuesday') }}}},
# and after a tool step {{{{ tools.<tool name>.json.<field> }}}} (the tool's result, parsed as JSON).

version: 1                        # the scenario language version (always 1)
name: {name}                      # shown in reports and JUnit
description: >-
  What this call tests, in a sentence or two: who calls, what they want, what should happen.
seed: 1                           # same seed, same call: ids, fake names and timing jitter

call:
  type: inboundPhoneCall          # webCall | inboundPhoneCall | outboundPhoneCall | vapi.websocketCall
  customer:
    number: "{{{{ e164_phone_number }}}}"  # fake data (E.164, as Vapi sends), the same for the same seed
    name: "{{{{ faker.name }}}}"

assistant:                        # the assistant as Vapi would send it (keys as in Vapi's dashboard)
  name: Riley
  firstMessage: "Hi, this is Riley from Wellness Partners. How can I help you today?"
  system: >-
    You are Riley, the scheduling assistant of Wellness Partners. Check availability with
    check_availability before offering times.
  # Which messages go to the server URL; leave it out for Vapi's defaults.
  serverMessages: [conversation-update, end-of-call-report, hang, model-output, speech-update,
                   status-update, tool-calls, transcript, user-interrupted]
  tools:                          # every tool a step calls must be declared here
    - name: check_availability
      description: Free appointment slots on a date.
      parameters: {{date: string, period: string}}   # {{argument: JSON type}}, or a full JSON Schema
  # server:                       # where messages go when the run has no --to
  #   url: https://staging.example.com/vapi/webhook
  #   timeoutSeconds: 20
  #   secret: my-shared-secret    # sent as X-Vapi-Secret

timing:                           # all optional; these are the defaults unless noted
  tokens_per_second: 35           # how fast the model streams (live LLMs: about 20-100)
  first_token_latency: 600ms      # from the user's last word to the first model token
  jitter: 10%                     # random spread on every duration
  words_per_minute: 165           # how fast the assistant speaks
  hang_after: 5s                  # Vapi sends `hang` when the model or a tool is silent this long

steps:
  # The caller speaks. `after`: pause before speaking (default timing.user_pause, 0.8s).
  - user: "Hi, I'd like to book a cleaning for next Tuesday."

  # The assistant answers, streamed token by token (model-output, voice-input, speech, transcript).
  - assistant: "Sure! Let me check Tuesday for you."

  # A tool call: tool-calls goes to your server, which must answer with the result.
  # `result`/`latency` are the scripted answer, used when no server answers (`mockvapi run` without
  # --to). A real answer counts as taking at least `latency`.
  - id: check-slots               # optional: a name for this step in reports
    tool:
      name: check_availability
      arguments: {{date: "{{{{ next_weekday('tuesday') }}}}", period: morning}}
      result: {{slots: ["09:00", "10:30"]}}
      latency: 800ms
      expect_reply:               # checks on your server's answer (all optional)
        within: 2s                # answered within 2 s
        result_contains: "09:00"  # the result text contains this
        # status: 200  |  error: false  |  result_equals: {{slots: ["09:00"]}}

  # An answer the caller cuts into: user-interrupted, the assistant stops, history keeps the words
  # actually spoken. `after`: "N tokens" into the answer, or a time after its speech starts (1.5s).
  # Use `hangup: true` instead of `by:` for a caller who hangs up mid-sentence.
  - assistant:
      say: >-
        I have {{{{ tools.check_availability.json.slots[0] }}}} or
        {{{{ tools.check_availability.json.slots[1] }}}} on Tuesday morning. Which one would you like?
      interrupted:
        after: 12 tokens
        by: "Nine works, thanks."

  # `delay`: extra model latency before the first token; over hang_after, Vapi sends `hang`.
  - assistant:
      say: "Perfect, you're booked for nine on Tuesday. Anything else?"
      delay: 0s

  - user: "No, that's all. Bye!"

  # Nobody speaks for a while.
  - silence: 1s

  # The call ends. `reason` is any Vapi endedReason; `say` adds the assistant's last words.
  - end:
      reason: customer-ended-call
      # say: "Thanks for calling, goodbye!"

  # Instead of `end`, a call can end with a transfer (transfer-update, status-update forwarding):
  # - transfer:
  #     number: "+14155550123"    # or sip: "sip:desk@example.com"; neither: asks your server
  #     message: "Let me transfer you to the front desk."

  # With a `squad:` instead of `assistant:`, a member hands the call to another member:
  # - handoff: Billing              # or {{reply: Billing}}: your server decides (handoff-destination-request)

# Checked after the call by `mockvapi run` (and the pytest fixture). All optional.
expect:
  ended_reason: customer-ended-call
  delivered: [tool-calls, user-interrupted]   # these message types reached the server
  not_delivered: [hang]                       # these never did
  problems: 0                     # how many problems (bad replies, timeouts...) are allowed
  # max_reply_latency: 1s         # every webhook reply within this
"""


def scenario_template(name: str, file: str) -> str:
    """The commented scaffold for a scenario called `name`, saved as `file`."""
    return _TEMPLATE.format(name=json.dumps(name), file=file, schema=SCHEMA_FILE)


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return slug or "scenario"


def scaffold(name: str, directory: str | Path = ".", *, force: bool = False, schema: str | None = None) -> Path:
    """Write `<directory>/<name>.yaml` (and the JSON Schema beside it, if `schema` text is given and the
    file is not there yet). Returns the scenario's path; refuses to overwrite unless `force`."""
    stem = _slug(name.removesuffix(".yaml").removesuffix(".yml"))
    folder = Path(directory)
    path = folder / f"{stem}.yaml"
    if path.exists() and not force:
        raise MockVapiError(f"{path} already exists (use --force to overwrite it)")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(scenario_template(stem, str(path)), encoding="utf-8")
    if schema is not None and not (folder / SCHEMA_FILE).exists():
        (folder / SCHEMA_FILE).write_text(schema, encoding="utf-8")
    return path
