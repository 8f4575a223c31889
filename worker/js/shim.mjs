// Entry module of the Worker: instantiates the Rust code (compiled to wasm, bound by
// wasm-bindgen's bundler target) and hands it the Worker's events. The Durable Object class
// is a wasm-bindgen class, re-exported by name so workerd can find it.
import * as glue from "./index_bg.js";
import wasmModule from "./index.wasm";

const instance = new WebAssembly.Instance(wasmModule, { "./index_bg.js": glue });
glue.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start?.();

export { MCPSessionDurableObject } from "./index_bg.js";

export default {
  fetch(request, env, ctx) {
    return glue.fetch(request, env, ctx);
  },
  scheduled(event, env, ctx) {
    return glue.scheduled(event, env, ctx);
  },
};
