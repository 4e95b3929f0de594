// jest.config.js: every require("@daily-co/daily-js"), the SDK's own included, gets the stand-in.
module.exports = {
  moduleNameMapper: { "^@daily-co/daily-js$": "<rootDir>/mockvapi-daily/index.cjs" },
};
