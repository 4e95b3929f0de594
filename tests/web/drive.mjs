// Drives Debian's Chromium (never a downloaded browser) with playwright-core.
// stdin: {"url": PAGE, "jobs": [JOB, ...], "timeoutMs": N}, a JOB being one of
//   {"fn": NAME, "arg": ARG}        the result of window[NAME](ARG)
//   {"eval": "JS EXPRESSION"}       its value (awaited when a promise)
//   {"click": "CSS SELECTOR"}       null, once clicked
//   {"waitFor": "CSS SELECTOR"}     null, once an element matches
// stdout: one JSON document {"results": [...], "pageErrors": [...], "consoleErrors": [...]}
import { chromium } from "playwright-core";

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
];

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const input = await readStdin();
const browser = await chromium.launch({
  executablePath: process.env.MOCKVAPI_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: FLAGS,
});
const out = { results: [], pageErrors: [], consoleErrors: [] };
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(input.timeoutMs || 120000);
  page.on("pageerror", (err) => out.pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") out.consoleErrors.push(msg.text());
  });
  await page.goto(input.url);
  for (const job of input.jobs) {
    if (job.fn) out.results.push(await page.evaluate(([fn, arg]) => window[fn](arg), [job.fn, job.arg]));
    else if (job.eval) out.results.push(await page.evaluate(job.eval));
    else if (job.click) out.results.push(await page.click(job.click).then(() => null));
    else if (job.waitFor) out.results.push(await page.waitForSelector(job.waitFor).then(() => null));
    else throw new Error(`unknown job ${JSON.stringify(job)}`);
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
