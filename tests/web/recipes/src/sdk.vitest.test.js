// Vitest (ES modules): the SDK, unchanged, takes its Daily from the stand-in.
import Vapi from "@vapi-ai/web";
import { expect, test } from "vitest";

test("the SDK's own Daily call object is mockvapi's stand-in", async () => {
  // The SDK's network check creates a call object with its own require("@daily-co/daily-js").
  const results = await Vapi.runNetworkTestsStandalone();
  expect(results.websocketConnectivity.passedRegions).toEqual(["loopback"]);
});
