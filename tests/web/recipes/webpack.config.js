// webpack.config.js: `webpack --env mockvapi` swaps Daily for the stand-in.
const path = require("node:path");

module.exports = (env) => ({
  entry: "./src/main.js",
  output: { path: path.resolve("dist-webpack"), filename: "app.js" },
  resolve: {
    alias: env.mockvapi ? { "@daily-co/daily-js": path.resolve("mockvapi-daily") } : {},
  },
});
