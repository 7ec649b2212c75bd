// Allure 3's command line with its modules loaded before it is asked (lab/report/allure_ready.py).
//
//     node allure_ready.mjs NODE_MODULES/allure    (then, on standard input: ["awesome", "DIR", ...])
//
// Loading Allure's commands takes about a second; the report itself a fraction of one. This loads
// them at once, then waits for its standard input to end: a JSON array of arguments is run exactly
// as `allure ARGS` runs it (Allure's own entry point, with these arguments); nothing at all (the lab
// ended without a report) ends it quietly.
import process from "node:process";
import { pathToFileURL } from "node:url";

const home = pathToFileURL(`${process.argv[2]}/`);
await import(new URL("dist/commands/index.js", home));

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
if (!input.trim()) process.exit(0);
const args = JSON.parse(input);
if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
  console.error("allure_ready: expected a JSON array of strings");
  process.exit(2);
}
process.argv.splice(2, process.argv.length - 2, ...args);
await import(new URL("dist/index.js", home));
