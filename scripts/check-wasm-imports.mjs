// Fails when a wasm module imports anything from the "env" module: such an import means some
// code expects a C runtime or an undefined symbol that workerd cannot provide.
// Usage: node scripts/check-wasm-imports.mjs FILE.wasm
import { readFileSync } from "node:fs";

const file = process.argv[2];
const module = new WebAssembly.Module(readFileSync(file));
const imports = WebAssembly.Module.imports(module);
const fromEnv = imports.filter((i) => i.module === "env");
const modules = [...new Set(imports.map((i) => i.module))];
if (fromEnv.length > 0) {
  console.error(`${file} imports from "env": ${fromEnv.map((i) => i.name).join(", ")}`);
  process.exit(1);
}
console.log(`${file}: ${imports.length} imports, from ${modules.join(", ") || "nothing"}; none from "env"`);
