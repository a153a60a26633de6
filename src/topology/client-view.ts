/**
 * redfleet's view of a user's ioredis client (`client` option): the same client, every property
 * read from and written to it, but with a `sendCommand` (and a Cluster's `refreshSlotsCache` and
 * `options`) of its own. What redfleet hooks into sending (its deadlines, its refusal while the
 * node is known to be down, where it re-reads the slot map from, what a refusal does) is set on
 * the view, so it applies to redfleet's calls only: the user's own calls on their client, and
 * its options, stay as they were. ioredis reaches these through `this` for every command (single
 * ones, each one of a pipeline, scripts, the re-read before re-sending a refused one), and a
 * method called on the view has the view as `this`.
 */
export function clientView<T extends object>(client: T): T {
  const own = new Map<PropertyKey, unknown>()
  return new Proxy(client, {
    get(target, property, receiver) {
      if (own.has(property)) return own.get(property)
      return Reflect.get(target, property, receiver)
    },
    set(target, property, value) {
      if (VIEW_OWN.has(property)) own.set(property, value)
      else Reflect.set(target, property, value)
      return true
    },
  })
}

/** What redfleet hooks into a user's client: set on the view, never on the client. */
const VIEW_OWN = new Set<PropertyKey>(['sendCommand', 'refreshSlotsCache', 'options'])

/** A command as ioredis queues it (the part this module touches). */
interface QueuedCommand {
  reject(error: Error): void
}

/** ioredis' offline queue (a Denque, not in its typings): commands not written yet. */
interface OfflineQueue {
  readonly length: number
  peekAt(index: number): { command: QueuedCommand } | undefined
  removeOne(index: number): unknown
}

/**
 * Marks every command redfleet hands a user's client through `view` (clientView), and returns
 * what withdraws those still waiting in the client's offline queue: rejected with `error`, never
 * written on the client's next connection. The user's own queued commands stay queued. Called
 * first on the view, so that only commands actually handed to the client are marked.
 */
export function withdrawable(view: {
  sendCommand(command: never, ...rest: never[]): unknown
}): (error: Error) => void {
  const ours = new WeakSet<object>()
  const send = view.sendCommand as (this: unknown, command: QueuedCommand, ...rest: unknown[]) => unknown
  const marked = function (this: unknown, command: QueuedCommand, ...rest: unknown[]) {
    ours.add(command)
    return send.call(this, command, ...rest)
  }
  ;(view as unknown as { sendCommand: typeof marked }).sendCommand = marked
  return (error) => {
    const queue = (view as unknown as { offlineQueue?: OfflineQueue }).offlineQueue
    if (!queue) return
    for (let i = queue.length - 1; i >= 0; i--) {
      const item = queue.peekAt(i)
      if (item === undefined || !ours.has(item.command)) continue
      queue.removeOne(i)
      item.command.reject(error)
    }
  }
}
