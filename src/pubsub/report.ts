/** Where the hub sends failures no caller can receive: the fleet's onError. */
export type ErrorSink = (error: unknown, context: { op: string }) => void

/** Calls the sink, ignoring one that throws: reporting must never break delivery or reconnects. */
export function report(onError: ErrorSink, error: unknown, op: string): void {
  try {
    onError(error, { op })
  } catch {
    // ignored on purpose, see above
  }
}
