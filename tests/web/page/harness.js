// A test page's script: Vapi's web SDK as published ("vapi-sdk" is aliased at bundle time to
// @vapi-ai/web or to its previous minor version), with @daily-co/daily-js aliased to mockvapi's
// stand-in. window.runCall(opts) starts one call and resolves with everything the page saw.
import Vapi from "vapi-sdk";
import DailyIframe from "@daily-co/daily-js";

const DAILY_EVENTS = [
  "joining-meeting",
  "joined-meeting",
  "participant-joined",
  "track-started",
  "app-message",
  "participant-left",
  "left-meeting",
  "error",
];

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function act(vapi, action, log) {
  log.push({ ev: "action", action: action.do });
  if (action.do === "send") vapi.send(action.message);
  else if (action.do === "say") vapi.say(action.text, action.endCallAfterSpoken);
  else if (action.do === "mute") vapi.setMuted(true);
  else if (action.do === "unmute") vapi.setMuted(false);
  else if (action.do === "end") vapi.end();
  else if (action.do === "stop") await vapi.stop();
  else if (action.do === "fetch") await fetch(action.url, { method: "POST" });
  else if (action.do === "wait") await sleep(action.ms);
  if (action.do === "mute" || action.do === "unmute") log.push({ ev: "muted", value: vapi.isMuted() });
}

window.runCall = async function runCall(opts) {
  const log = [];
  const t0 = performance.now();
  const at = () => Math.round((performance.now() - t0) * 10) / 10;
  const vapi = new Vapi(opts.key, opts.apiUrl);
  let callEnds = 0;
  let ended;
  const endedPromise = new Promise((resolve) => {
    ended = resolve;
  });
  let messages = 0;
  const triggers = [...(opts.actions || [])];
  const fire = async (when) => {
    while (triggers.length && triggers[0].when === when) {
      await act(vapi, triggers.shift(), log);
    }
  };
  vapi.on("call-start-progress", (p) => {
    if (p.stage === "daily-call-object-creation" && p.status === "completed") {
      const call = vapi.getDailyCallObject();
      for (const name of DAILY_EVENTS) {
        call.on(name, (e) => {
          const entry = { ev: `daily:${name}`, t: at() };
          if (name === "app-message") entry.data = e.data;
          if (name === "participant-joined" || name === "track-started") entry.user = e.participant.user_name;
          if (name === "track-started") entry.kind = e.track && e.track.kind;
          if (name === "error") entry.type = e.error && e.error.type;
          log.push(entry);
        });
      }
    }
    if (p.stage === "daily-call-join" && p.status !== "started") log.push({ ev: `join-${p.status}`, t: at() });
  });
  vapi.on("call-start", () => {
    log.push({ ev: "call-start", t: at() });
    fire("call-start");
  });
  vapi.on("message", (m) => {
    log.push({ ev: "message", t: at(), m });
    messages += 1;
    if (m.type === "model-output") fire("model-output");
    // "said": once the call's history has the assistant saying the trigger's text.
    const next = triggers[0];
    if (next && next.when === "said" && m.type === "conversation-update" &&
        m.messages.some((h) => h.role === "bot" && h.message === next.text)) fire("said");
    if (opts.afterMessages && messages === opts.afterMessages) fire("after-messages");
  });
  vapi.on("speech-start", () => log.push({ ev: "speech-start", t: at() }));
  vapi.on("speech-end", () => log.push({ ev: "speech-end", t: at() }));
  vapi.on("volume-level", (v) => log.push({ ev: "volume-level", v }));
  vapi.on("local-volume-level", (v) => log.push({ ev: "local-volume-level", v }));
  vapi.on("error", (e) => log.push({ ev: "error", type: e.type, detail: e.error && (e.error.type || e.error.message) }));
  vapi.on("call-end", () => {
    callEnds += 1;
    log.push({ ev: "call-end", t: at() });
    ended();
  });
  let result;
  try {
    // start(assistant, assistantOverrides, squad): a squad (or squadId) with no assistant, as the SDK allows.
    const started = await vapi.start(opts.assistant, opts.assistantOverrides, opts.squad);
    result = started ? { id: started.id, webCallUrl: started.webCallUrl } : null;
  } catch (err) {
    log.push({ ev: "start-threw", message: String(err) });
  }
  log.push({ ev: "start-returned", t: at(), result });
  if (result) {
    await Promise.race([endedPromise, sleep(opts.timeoutMs || 60000)]);
  }
  await sleep(opts.settleMs || 1300); // the SDK's speech-end fires 1 s after the last sound
  return { log, callEnds, isMuted: vapi.isMuted() };
};

window.pageAlive = () => "alive";

// The stand-in alone, joining a URL the test chooses (an unknown call, a closed port...).
window.joinDirect = async function joinDirect(url) {
  const log = [];
  const call = DailyIframe.createCallObject({ audioSource: true });
  for (const name of ["joining-meeting", "joined-meeting", "error", "left-meeting"]) {
    call.on(name, (e) => log.push({ ev: name, type: e && e.error && e.error.type, msg: e && e.errorMsg }));
  }
  try {
    await call.join({ url });
    log.push({ ev: "join-resolved" });
  } catch (err) {
    log.push({ ev: "join-rejected", message: String(err && err.message) });
  }
  await call.destroy();
  return { log };
};
