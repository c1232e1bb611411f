// The package in Node.js (20 or later): the module is compiled and
// instantiated synchronously on import, so `init()` resolves at once and
// need not be called.
import { readFileSync } from 'node:fs';
import { initSync } from './sotto_wasm.js';

initSync({ module: readFileSync(new URL('./sotto_wasm_bg.wasm', import.meta.url)) });

export * from './sotto_wasm.js';
export { default } from './sotto_wasm.js';
export { isSottoError } from './errors.js';
