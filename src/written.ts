/**
 * What a multi-key call tells once its commands are on their connections (it first learns where
 * its keys live, so that is after it returns): the call order (KeyOrder, CallOrder) lets later
 * calls on its keys go then, not once it settles, since Redis runs one connection's commands in
 * order. `written` is the backend's to call; `wrote` resolves when it is called, and
 * `hasWritten` says whether it was (a later call may have gone since: KeyOrder's overtaking).
 */
export function writtenSignal(): { written: () => void; wrote: Promise<void>; hasWritten: () => boolean } {
  let resolve!: () => void
  let done = false
  const wrote = new Promise<void>((r) => {
    resolve = r
  })
  const written = () => {
    done = true
    resolve()
  }
  return { written, wrote, hasWritten: () => done }
}

/**
 * `sending` (the commands of one attempt of a multi-key call, all sent), telling `written` when
 * later calls on its keys may go: at once where the topology applies commands in the order
 * written, else (a cluster: a command refused for its slot's migration is sent again once its
 * pipeline's replies are in) once this attempt has its replies. Not once the call settles: a
 * later call would wait out every retry of one on a frozen master, each in turn.
 */
export function inOrderOf<T>(
  topology: { readonly inOrderOnceWritten: boolean },
  sending: Promise<T>,
  written: (() => void) | undefined,
): Promise<T> {
  if (written === undefined) return sending
  if (topology.inOrderOnceWritten) {
    written()
    return sending
  }
  return sending.finally(written)
}
