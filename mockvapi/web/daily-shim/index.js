// mockvapi's stand-in for @daily-co/daily-js: what Vapi's web SDK (@vapi-ai/web) needs from Daily,
// talking to a mockvapi server instead of Daily's servers. Alias "@daily-co/daily-js" to this module
// in your bundler and leave the SDK and your app unchanged.
//
// join({url}) turns the webCallUrl mockvapi gave (http://HOST/CALL_ID/web) into a websocket to the
// same path. Over it, text frames from mockvapi are app-messages ("listening", then each client
// message's JSON text) and binary frames are the assistant's audio (16-bit little-endian PCM at
// 16 kHz, 20 ms a frame); text frames to mockvapi are what the SDK passes to sendAppMessage, and
// binary frames are the page's microphone (silence while muted). One text frame of mockvapi's own,
// {"type":"mockvapi.local-audio","enabled":bool}, tells the mock about setLocalAudio().
//
// Events follow Daily's order and shapes: joining-meeting, joined-meeting (join resolves), then
// participant-joined and, once subscribed, track-started for the remote "Vapi Speaker" with a real
// audio MediaStreamTrack fed by the PCM frames through WebAudio; app-messages only after join has
// resolved; remote-participants-audio-level and local-audio-level while their observers run; and at
// the end participant-left then left-meeting (after an `error` event when the connection failed).

const SPEAKER_NAME = "Vapi Speaker";
const SAMPLE_RATE = 16000;
const FRAME_SAMPLES = 320; // 20 ms at 16 kHz
const MAX_BACKLOG_SECONDS = 0.25; // beyond this the player drops frames (a clock sped up past real time)
const PRIVATE_LOCAL_AUDIO = "mockvapi.local-audio";

let counter = 0;

function newId() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === "function") {
    return globalThis.crypto.randomUUID();
  }
  counter += 1;
  return `mockvapi-${Date.now().toString(16)}-${counter}`;
}

function transportUrl(url) {
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    return null;
  }
  return url.replace(/^http/, "ws");
}

function rms(samples) {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i += 1) sum += samples[i] * samples[i];
  return Math.sqrt(sum / samples.length);
}

// Daily's fatal error event: {action: "error", errorMsg, error: {type, msg, details}}.
function fatalError(type, msg, details) {
  const error = new Error(msg);
  error.errorMsg = msg;
  error.error = { type, msg, details: details || {} };
  return error;
}

class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  on(event, listener) {
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    this._listeners.get(event).push(listener);
    return this;
  }

  once(event, listener) {
    const wrapped = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    wrapped.original = listener;
    return this.on(event, wrapped);
  }

  off(event, listener) {
    const list = this._listeners.get(event);
    if (list) {
      const i = list.findIndex((l) => l === listener || l.original === listener);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  listenerCount(event) {
    return (this._listeners.get(event) || []).length;
  }

  emit(event, payload) {
    for (const listener of [...(this._listeners.get(event) || [])]) {
      try {
        listener(payload);
      } catch (err) {
        // As Daily does: one listener's failure is reported, not thrown into the call.
        console.error(`[mockvapi daily stand-in] a "${event}" listener threw`, err);
      }
    }
    return this;
  }
}

class AssistantAudio {
  // The remote participant's audio: PCM frames played through WebAudio into a MediaStreamTrack.
  constructor() {
    this.context = null;
    this.destination = null;
    this.nextTime = 0;
    const Context = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (Context) {
      try {
        this.context = new Context({ sampleRate: SAMPLE_RATE });
        this.destination = this.context.createMediaStreamDestination();
      } catch (err) {
        this.context = null;
      }
    }
    this.track = this.destination ? this.destination.stream.getAudioTracks()[0] : null;
  }

  play(samples) {
    const ctx = this.context;
    if (!ctx || ctx.state === "closed") return;
    const now = ctx.currentTime;
    if (this.nextTime < now) this.nextTime = now + 0.02;
    if (this.nextTime - now > MAX_BACKLOG_SECONDS) return;
    const buffer = ctx.createBuffer(1, samples.length, SAMPLE_RATE);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.destination);
    source.start(this.nextTime);
    this.nextTime += samples.length / SAMPLE_RATE;
  }

  close() {
    if (this.track) this.track.stop();
    if (this.context && this.context.state !== "closed") this.context.close().catch(() => {});
  }
}

class Microphone {
  // The page's microphone: levels for local-audio-level and 20 ms PCM frames for the mock.
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.level = 0;
    this.stream = null;
    this.context = null;
    this.pending = [];
    this.started = null;
  }

  start() {
    if (this.started) return this.started;
    this.started = (async () => {
      const media = globalThis.navigator && globalThis.navigator.mediaDevices;
      const Context = globalThis.AudioContext || globalThis.webkitAudioContext;
      if (!media || !media.getUserMedia || !Context) return;
      try {
        this.stream = await media.getUserMedia({ audio: true });
      } catch (err) {
        return; // no microphone: levels stay 0 and the mock hears silence
      }
      this.context = new Context({ sampleRate: SAMPLE_RATE });
      const source = this.context.createMediaStreamSource(this.stream);
      // ScriptProcessor is deprecated but needs no extra module file, which an AudioWorklet would.
      const tap = this.context.createScriptProcessor(1024, 1, 1);
      tap.onaudioprocess = (event) => {
        const input = event.inputBuffer.getChannelData(0);
        this.level = Math.min(1, rms(input) * 4);
        for (let i = 0; i < input.length; i += 1) this.pending.push(input[i]);
        while (this.pending.length >= FRAME_SAMPLES) {
          this.onFrame(Float32Array.from(this.pending.splice(0, FRAME_SAMPLES)));
        }
      };
      source.connect(tap);
      tap.connect(this.context.destination);
    })();
    return this.started;
  }

  close() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.context && this.context.state !== "closed") this.context.close().catch(() => {});
  }
}

export class MockDailyCall extends Emitter {
  constructor(options) {
    super();
    this.options = options || {};
    this.callClientId = newId();
    this._state = "new";
    this._ws = null;
    this._localAudio = this.options.audioSource !== false;
    this._local = { session_id: newId(), local: true, user_name: "", audio: this._localAudio, video: false };
    this._remote = null;
    this._audio = null;
    this._mic = null;
    this._joinedResolved = false;
    this._queued = []; // app-messages that came before join resolved
    this._levels = []; // [performance time ms, rms] of the assistant's recent frames
    this._remoteTimer = null;
    this._localTimer = null;
    this._localLevel = 0;
    this._inputSettings = {};
    this._leaving = false;
    this._destroyed = false;
  }

  // -- what the SDK reads -----------------------------------------------------------------------

  iframe() {
    return null;
  }

  meetingState() {
    return {
      new: "new",
      joining: "joining-meeting",
      joined: "joined-meeting",
      left: "left-meeting",
      error: "error",
    }[this._state];
  }

  participants() {
    const all = { local: { ...this._local, audio: this._localAudio } };
    if (this._remote) all[this._remote.session_id] = { ...this._remote };
    return all;
  }

  localAudio() {
    return this._localAudio;
  }

  isDestroyed() {
    return this._destroyed;
  }

  // -- joining and leaving ----------------------------------------------------------------------

  join(options) {
    if (this._destroyed) {
      return Promise.reject(new Error("Use after destroy"));
    }
    if (this._state !== "new" && this._state !== "left") {
      return Promise.reject(new Error("Already joined or joining a meeting"));
    }
    const url = (options && options.url) || this.options.url;
    const target = transportUrl(url);
    if (!target) {
      const err = fatalError("no-room", `mockvapi: not a webCallUrl from mockvapi: ${String(url)}`);
      this._fail(err);
      return Promise.reject(err);
    }
    this._state = "joining";
    this.emit("joining-meeting", { action: "joining-meeting", callClientId: this.callClientId });
    this._audio = new AssistantAudio();
    return new Promise((resolve, reject) => {
      let opened = false;
      let ws;
      try {
        ws = new WebSocket(target);
      } catch (err) {
        const fatal = fatalError("connection-error", `mockvapi: cannot open ${target}: ${err.message}`);
        this._fail(fatal);
        reject(fatal);
        return;
      }
      ws.binaryType = "arraybuffer";
      this._ws = ws;
      ws.onopen = () => {
        opened = true;
        this._state = "joined";
        const participants = this.participants();
        this.emit("joined-meeting", { action: "joined-meeting", participants, callClientId: this.callClientId });
        resolve(participants);
        // The SDK registers its app-message and level listeners in the continuation of `await join()`;
        // a macrotask later they are in place.
        setTimeout(() => this._afterJoin(), 0);
      };
      ws.onmessage = (event) => this._frame(event.data);
      ws.onclose = (event) => {
        if (this._ws === ws) this._ws = null;
        if (this._leaving) return;
        if (!opened) {
          // The browser hides why an upgrade failed; a plain GET of the same URL says (404, 410).
          this._whyRefused(url).then((why) => {
            const fatal = why || this._closeError(event, target);
            this._fail(fatal);
            reject(fatal);
          });
          return;
        }
        if (event.code !== 1000) {
          this._fail(this._closeError(event, target));
        } else {
          this._left();
        }
      };
      ws.onerror = () => {}; // the close event that follows says what happened
    });
  }

  async _whyRefused(url) {
    try {
      const answer = await fetch(url, { method: "GET" });
      if (answer.status !== 404 && answer.status !== 410) return null;
      const body = await answer.json().catch(() => ({}));
      const what = answer.status === 404 ? "does not exist" : "has ended";
      return fatalError("no-room", `The meeting you're trying to join ${what}. (${body.message || answer.status})`);
    } catch (err) {
      return null; // nothing answers there: a connection error
    }
  }

  _closeError(event, target) {
    const reason = event.reason || "";
    if (event.code === 4404) {
      return fatalError("no-room", `The meeting you're trying to join does not exist. (${reason})`);
    }
    if (event.code === 4410) {
      return fatalError("no-room", `The meeting you're trying to join has ended. (${reason})`);
    }
    const what = this._state === "joining" ? "could not connect to" : "lost the connection to";
    return fatalError(
      "connection-error",
      `mockvapi: ${what} ${target} (websocket close ${event.code}${reason ? `: ${reason}` : ""})`,
      { code: event.code }
    );
  }

  _afterJoin() {
    if (this._state !== "joined") return;
    this._joinedResolved = true;
    // Daily opens the microphone on join (audioSource defaults to true); the mock hears its frames.
    if (this.options.audioSource !== false) this._microphone().start();
    this._remote = { session_id: newId(), local: false, user_name: SPEAKER_NAME, audio: false, video: false };
    this.emit("participant-joined", {
      action: "participant-joined",
      participant: { ...this._remote },
      callClientId: this.callClientId,
    });
    if (this.options.subscribeToTracksAutomatically !== false && !this._remote.audio) {
      this._startTrack();
    }
    const queued = this._queued;
    this._queued = [];
    for (const data of queued) this._appMessage(data);
  }

  _startTrack() {
    if (!this._remote || this._remote.audio || this._state !== "joined") return;
    this._remote.audio = true;
    const track = this._audio && this._audio.track;
    this.emit("track-started", {
      action: "track-started",
      participant: { ...this._remote, tracks: { audio: { state: "playable", track } } },
      track,
      callClientId: this.callClientId,
    });
  }

  _frame(data) {
    if (typeof data === "string") {
      if (this._joinedResolved) this._appMessage(data);
      else this._queued.push(data);
      return;
    }
    const pcm = new Int16Array(data);
    const samples = new Float32Array(pcm.length);
    for (let i = 0; i < pcm.length; i += 1) samples[i] = pcm[i] / 32768;
    const now = typeof performance !== "undefined" ? performance.now() : Date.now();
    this._levels.push([now, rms(samples)]);
    if (this._levels.length > 500) this._levels.splice(0, this._levels.length - 500);
    if (this._audio) this._audio.play(samples);
  }

  _appMessage(data) {
    this.emit("app-message", {
      action: "app-message",
      data,
      fromId: this._remote ? this._remote.session_id : "transport",
      callClientId: this.callClientId,
    });
  }

  _fail(error) {
    this.emit("error", {
      action: "error",
      errorMsg: error.errorMsg,
      error: error.error,
      callClientId: this.callClientId,
    });
    this._state = "error";
    this._left();
  }

  _left() {
    const wasIn = this._state === "joined" || this._state === "error" || this._state === "joining";
    this._stopObservers();
    if (this._remote) {
      const remote = this._remote;
      this._remote = null;
      this.emit("participant-left", {
        action: "participant-left",
        participant: { ...remote },
        callClientId: this.callClientId,
      });
    }
    this._state = "left";
    this._joinedResolved = false;
    if (this._audio) this._audio.close();
    if (this._mic) this._mic.close();
    this._audio = null;
    this._mic = null;
    if (wasIn) this.emit("left-meeting", { action: "left-meeting", callClientId: this.callClientId });
  }

  leave() {
    if (this._state === "new" || this._state === "left") return Promise.resolve();
    this._leaving = true;
    const ws = this._ws;
    this._ws = null;
    if (ws && ws.readyState <= 1) ws.close(1000, "left the meeting");
    this._left();
    this._leaving = false;
    return Promise.resolve();
  }

  destroy() {
    const done = this.leave();
    this._destroyed = true;
    return done;
  }

  // -- messages and media ---------------------------------------------------------------------

  sendAppMessage(data, to) {
    if (this._state !== "joined" || !this._ws || this._ws.readyState !== 1) {
      // Not in a call (yet, or any more): dropped with a warning rather than thrown into the page,
      // where a vapi.send() racing the call's end would become an unhandled exception.
      console.warn("[mockvapi daily stand-in] sendAppMessage() outside a joined call: dropped");
      return this;
    }
    this._ws.send(typeof data === "string" ? data : JSON.stringify(data));
    return this;
  }

  updateParticipant(sessionId, update) {
    const tracks = update && update.setSubscribedTracks;
    if (this._remote && sessionId === this._remote.session_id && tracks && (tracks === true || tracks.audio)) {
      setTimeout(() => this._startTrack(), 0);
    }
    return this;
  }

  updateParticipants(updates) {
    for (const [id, update] of Object.entries(updates || {})) this.updateParticipant(id, update);
    return this;
  }

  setLocalAudio(enabled) {
    this._localAudio = Boolean(enabled);
    if (this._ws && this._ws.readyState === 1) {
      this._ws.send(JSON.stringify({ type: PRIVATE_LOCAL_AUDIO, enabled: this._localAudio }));
    }
    return this;
  }

  setLocalVideo() {
    return this;
  }

  updateInputSettings(settings) {
    this._inputSettings = { ...this._inputSettings, ...(settings || {}) };
    return Promise.resolve({ inputSettings: this._inputSettings });
  }

  getInputSettings() {
    return Promise.resolve(this._inputSettings);
  }

  setInputDevicesAsync() {
    return Promise.resolve({ camera: {}, mic: {}, speaker: {} });
  }

  setOutputDeviceAsync() {
    return Promise.resolve({ speaker: {} });
  }

  // -- audio levels ---------------------------------------------------------------------------

  startRemoteParticipantsAudioLevelObserver(interval) {
    const every = interval || 100;
    clearInterval(this._remoteTimer);
    this._remoteTimer = setInterval(() => {
      if (!this._remote) return;
      const now = typeof performance !== "undefined" ? performance.now() : Date.now();
      let level = 0;
      for (const [at, value] of this._levels) if (at > now - every && value > level) level = value;
      this._levels = this._levels.filter(([at]) => at > now - every);
      this.emit("remote-participants-audio-level", {
        action: "remote-participants-audio-level",
        participantsAudioLevel: { [this._remote.session_id]: level },
        callClientId: this.callClientId,
      });
    }, every);
    return Promise.resolve();
  }

  stopRemoteParticipantsAudioLevelObserver() {
    clearInterval(this._remoteTimer);
    this._remoteTimer = null;
  }

  _microphone() {
    if (!this._mic) {
      this._mic = new Microphone((samples) => this._sendMic(samples));
    }
    return this._mic;
  }

  _sendMic(samples) {
    if (!this._ws || this._ws.readyState !== 1) return;
    const pcm = new Int16Array(samples.length);
    if (this._localAudio) {
      for (let i = 0; i < samples.length; i += 1) pcm[i] = Math.max(-32768, Math.min(32767, samples[i] * 32768));
    }
    this._ws.send(pcm.buffer);
  }

  async startLocalAudioLevelObserver(interval) {
    const every = interval || 100;
    await this._microphone().start();
    clearInterval(this._localTimer);
    this._localTimer = setInterval(() => {
      this._localLevel = this._localAudio && this._mic ? this._mic.level : 0;
      this.emit("local-audio-level", { action: "local-audio-level", audioLevel: this._localLevel });
    }, every);
  }

  stopLocalAudioLevelObserver() {
    clearInterval(this._localTimer);
    this._localTimer = null;
  }

  isLocalAudioLevelObserverRunning() {
    return this._localTimer !== null;
  }

  getLocalAudioLevel() {
    return this._localLevel;
  }

  _stopObservers() {
    this.stopRemoteParticipantsAudioLevelObserver();
    this.stopLocalAudioLevelObserver();
  }

  // -- features a mock call does not have: answered so the SDK's optional paths keep working --------

  startRecording() {}

  stopRecording() {}

  startScreenShare() {}

  stopScreenShare() {}

  startCamera() {
    return Promise.resolve({});
  }

  testNetworkConnectivity() {
    return Promise.resolve({ result: "passed" });
  }

  testWebsocketConnectivity() {
    return Promise.resolve({ result: "passed", passedRegions: ["loopback"], failedRegions: [] });
  }

  testCallQuality() {
    return Promise.resolve({ result: "good", data: {} });
  }
}

const DailyIframe = {
  createCallObject(options) {
    return new MockDailyCall(options);
  },
  supportedBrowser() {
    return { supported: true, mobile: false, name: "mockvapi", version: "0", supportsScreenShare: false };
  },
  version() {
    return "0.0.0-mockvapi";
  },
};

export default DailyIframe;
