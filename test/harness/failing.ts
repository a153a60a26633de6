/** An operation body that fails `failures` times with `error`, then answers 'ok'. */
export function failing(
  failures: number,
  error: () => Error,
): { fn: () => Promise<string>; calls: () => number } {
  let calls = 0
  return {
    fn: async () => {
      if (++calls <= failures) throw error()
      return 'ok'
    },
    calls: () => calls,
  }
}
