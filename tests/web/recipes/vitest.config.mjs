// vitest.config.mjs: the stand-in for Daily; the SDK is pre-bundled so its own require() is aliased too.
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@daily-co/daily-js": path.resolve("mockvapi-daily") } },
  test: { deps: { optimizer: { ssr: { enabled: true, include: ["@vapi-ai/web"] } } } },
});
