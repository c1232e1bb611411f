/** Whether `error` is an error that Sotto threw (it then has a `code`). */
export function isSottoError(error) {
  return error instanceof Error && error.name === 'SottoError' && typeof error.code === 'string';
}
