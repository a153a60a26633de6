/**
 * What a multi-key call tells once its commands are on their connections (it first learns where
 * its keys live, so that is after it returns): the call order (KeyOrder, CallOrder) lets later
 * calls on its keys go then, not once it settles, since Redis runs one connection's commands in
 * order. `written` is the backend's to call; `wrote` resolves when it is called.
 */
export function writtenSignal(): { written: () => void; wrote: Promise<void> } {
  let written!: () => void
  const wrote = new Promise<void>((resolve) => {
    written = resolve
  })
  return { written, wrote }
}
