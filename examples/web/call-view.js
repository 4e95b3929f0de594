// What the user sees during a call, from the client messages Vapi's web SDK emits:
// - live captions from `model-output`, one line per turn (`turnId`);
// - a turn the caller cut off (`user-interrupted` names its turnId) disappears: it was never said;
// - "thinking..." while the assistant waits on something slow (`hang`), until it speaks again;
// - the transcript from `conversation-update` (the whole conversation each time, so it is replaced).

export function mountCallView(root, vapi) {
  const status = root.querySelector("[data-role=status]");
  const captions = root.querySelector("[data-role=captions]");
  const thinking = root.querySelector("[data-role=thinking]");
  const transcript = root.querySelector("[data-role=transcript]");
  const turns = new Map(); // turnId -> caption element

  function setStatus(text) {
    status.textContent = text;
    root.dataset.status = text;
  }

  function caption(turnId) {
    let line = turns.get(turnId);
    if (!line) {
      line = document.createElement("p");
      line.dataset.turnId = turnId;
      captions.appendChild(line);
      turns.set(turnId, line);
    }
    return line;
  }

  function onMessage(message) {
    switch (message.type) {
      case "model-output":
        if (typeof message.output === "string") {
          thinking.hidden = true;
          caption(message.turnId).textContent += message.output;
        }
        break;
      case "user-interrupted": {
        const line = turns.get(message.turnId);
        if (line) line.remove();
        turns.delete(message.turnId);
        break;
      }
      case "hang":
        thinking.hidden = false;
        break;
      case "speech-update":
        if (message.role === "assistant" && message.status === "started") thinking.hidden = true;
        break;
      case "conversation-update":
        transcript.replaceChildren(
          ...message.messages
            .filter((m) => m.role === "user" || m.role === "bot")
            .map((m) => {
              const item = document.createElement("li");
              item.dataset.role = m.role;
              item.textContent = `${m.role === "bot" ? "Assistant" : "You"}: ${m.message}`;
              return item;
            })
        );
        break;
      case "status-update":
        if (message.status === "ended") setStatus("ended");
        break;
      default:
        break;
    }
  }

  setStatus("idle");
  thinking.hidden = true;
  vapi.on("call-start", () => setStatus("live"));
  vapi.on("message", onMessage);
  vapi.on("call-end", () => setStatus("ended"));
  vapi.on("error", () => setStatus("error"));
  return { onMessage };
}
