// The benchmark page (bench/web.py): Vapi's web SDK, bundled with mockvapi's daily-js stand-in.
import Vapi from "@vapi-ai/web";

function until(vapi, event) {
  return new Promise((resolve) => vapi.once(event, resolve));
}

function bareConnect(url) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const ws = new WebSocket(url);
    ws.onopen = () => {
      const ms = performance.now() - started;
      ws.close();
      resolve(ms);
    };
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

// vapi.start() to call-start, against a bare websocket connect to the same server, alternately.
window.benchStart = async ({ key, apiUrl, assistant, bareUrl, repeat }) => {
  const start = [];
  const bare = [];
  const vapi = new Vapi(key, apiUrl);
  vapi.on("error", () => {});
  for (let i = 0; i < repeat; i += 1) {
    bare.push(await bareConnect(bareUrl));
    const started = performance.now();
    const callStart = until(vapi, "call-start");
    await vapi.start(assistant);
    await callStart;
    start.push(performance.now() - started);
    const ended = until(vapi, "call-end");
    vapi.end();
    await ended;
  }
  return { start, bare };
};

// Each message's arrival (Date.now()) minus the time the scenario schedules it (its `timestamp`).
window.benchLateness = async ({ key, apiUrl, assistant }) => {
  const lateness = [];
  const vapi = new Vapi(key, apiUrl);
  vapi.on("error", () => {});
  vapi.on("message", (m) => {
    if (typeof m.timestamp === "number") lateness.push(Date.now() - m.timestamp);
  });
  const ended = until(vapi, "call-end");
  await vapi.start(assistant);
  await ended;
  return lateness;
};
