/**
 * Runs a user's listener so that nothing it does reaches the connection or the other
 * listeners: a throw, or a returned promise that rejects, goes to `onError` instead.
 */
export function guardListener<T>(
  listener: (value: T) => unknown,
  onError: (error: unknown) => void,
): (value: T) => void {
  return (value) => {
    try {
      const result = listener(value)
      if (
        result !== null &&
        typeof result === 'object' &&
        typeof (result as Promise<unknown>).then === 'function'
      ) {
        ;(result as Promise<unknown>).then(undefined, (error: unknown) => safely(onError, error))
      }
    } catch (error) {
      safely(onError, error)
    }
  }
}

/** Calls onError, ignoring one that throws (it would otherwise stop the delivery loop). */
export function safely(onError: (error: unknown) => void, error: unknown): void {
  try {
    onError(error)
  } catch {
    // ignored on purpose, see above
  }
}
