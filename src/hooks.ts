/**
 * A user's hook (`onError`, `errorHandler`) made safe to call and forget: a promise it returns
 * that rejects is dropped, as a throw of `onError` is ignored (SPEC §2), instead of becoming an
 * unhandled rejection, which ends a Node process. An async logger that fails is such a hook.
 * What the hook throws synchronously still reaches its caller, which decides (a throwing cache
 * `errorHandler` makes the call reject, as Rails' does).
 */
export function withoutRejections<A extends unknown[]>(hook: (...args: A) => unknown): (...args: A) => void {
  return (...args) => {
    const result = hook(...args)
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as PromiseLike<unknown>).then === 'function'
    ) {
      ;(result as PromiseLike<unknown>).then(undefined, ignore)
    }
  }
}

const ignore = () => undefined
