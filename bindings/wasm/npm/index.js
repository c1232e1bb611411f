// The package in browsers and bundlers: call `await init()` once before
// anything else. It fetches `sotto_wasm_bg.wasm` next to this file, or
// takes `init({ module_or_path })` (a URL, a Response, bytes or a
// WebAssembly.Module).
export * from './sotto_wasm.js';
export { default } from './sotto_wasm.js';
export { isSottoError } from './errors.js';
