// The page's entry point. In production it talks to Vapi; in tests the same code, bundled with
// @daily-co/daily-js aliased to mockvapi's stand-in, talks to a mockvapi server (?api=...).
import Vapi from "@vapi-ai/web";
import { mountCallView } from "./call-view.js";

const params = new URLSearchParams(location.search);
const apiUrl = params.get("api") || undefined; // undefined: https://api.vapi.ai
const publicKey = params.get("key") || "your-public-key";
const assistantId = params.get("assistant") || "your-assistant-id";

const vapi = new Vapi(publicKey, apiUrl);
const root = document.getElementById("call");
mountCallView(root, vapi);
root.querySelector("[data-role=start]").addEventListener("click", () => vapi.start(assistantId));
root.querySelector("[data-role=stop]").addEventListener("click", () => vapi.stop());
