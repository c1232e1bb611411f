// The types of the package: wasm-bindgen's declarations of the exported
// classes, with Sotto's own interfaces (Address, ProtocolStore, SottoError,
// ErrorCode, ...), plus the one helper written in JavaScript.
import type { SottoError } from './sotto_wasm.js';

export * from './sotto_wasm.js';
export { default } from './sotto_wasm.js';

/** Whether `error` is an error that Sotto threw, narrowing it to
 *  `SottoError` (so that `error.code` is an `ErrorCode`). */
export function isSottoError(error: unknown): error is SottoError;
