// vite.config.js: `vite build --mode mockvapi` (or `vite --mode mockvapi`) swaps Daily for the stand-in.
import path from "node:path";
import { defineConfig } from "vite";

export default defineConfig(({ mode }) => ({
  resolve: {
    alias: mode === "mockvapi" ? { "@daily-co/daily-js": path.resolve("mockvapi-daily") } : {},
  },
}));
