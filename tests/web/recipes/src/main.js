import Vapi from "@vapi-ai/web";

window.vapi = new Vapi("pk-recipe", window.location.origin);
