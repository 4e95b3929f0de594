// Jest (CommonJS): the SDK, unchanged, takes its Daily from the stand-in.
const Vapi = require("@vapi-ai/web").default;

test("the SDK's own Daily call object is mockvapi's stand-in", async () => {
  // The SDK's network check creates a call object with its own require("@daily-co/daily-js").
  const results = await Vapi.runNetworkTestsStandalone();
  expect(results.websocketConnectivity.passedRegions).toEqual(["loopback"]);
});
