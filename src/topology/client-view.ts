/**
 * redfleet's view of a user's ioredis client (`client` option): the same client, every property
 * read from and written to it, but with a `sendCommand` of its own. What redfleet hooks into
 * sending (its deadlines, its refusal while the node is known to be down) is set on the view, so
 * it applies to redfleet's calls only: the user's own calls on their client, and its options,
 * stay as they were. ioredis reaches `sendCommand` through `this` for every command (single ones,
 * each one of a pipeline, scripts), and a method called on the view has the view as `this`.
 */
export function clientView<T extends object>(client: T): T {
  let sendCommand: unknown
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'sendCommand' && sendCommand !== undefined) return sendCommand
      return Reflect.get(target, property, receiver)
    },
    set(target, property, value) {
      if (property === 'sendCommand') sendCommand = value
      else Reflect.set(target, property, value)
      return true
    },
  })
}
