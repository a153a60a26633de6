/** An emitter as redfleet listens to it: an ioredis client, a node-redis client or cluster. */
export interface ListenedTo {
  on(event: string, listener: (...args: unknown[]) => void): unknown
  off(event: string, listener: (...args: unknown[]) => void): unknown
}

type Listener = (...args: never[]) => void

/** The listeners of one event of one emitter, and the one listener on it that calls them all. */
interface Fanout {
  readonly listeners: Set<Listener>
  readonly dispatch: (...args: unknown[]) => void
}

/**
 * One listener per emitter and event, however many fleets listen to it: a user's client may be
 * given to many fleets (`client`), each following its connection, and a listener each made Node
 * warn of a leak from the 11th fleet on (it cannot tell fleets from leaked listeners),
 * while raising the client's limit would silence the user's own warnings.
 * The listener goes as soon as the last fleet stops listening.
 */
const fanouts = new WeakMap<object, Map<string, Fanout>>()

/** Listens to `event` of `emitter` until the returned function is called. */
export function listenShared(emitter: ListenedTo, event: string, listener: Listener): () => void {
  let events = fanouts.get(emitter)
  if (events === undefined) {
    events = new Map()
    fanouts.set(emitter, events)
  }
  let fanout = events.get(event)
  if (fanout === undefined) {
    const listeners = new Set<Listener>()
    // A copy, as an emitter calls the listeners it had when the event began.
    const dispatch = (...args: unknown[]) => {
      for (const each of [...listeners]) each(...(args as never[]))
    }
    fanout = { listeners, dispatch }
    events.set(event, fanout)
    emitter.on(event, dispatch)
  }
  const { listeners, dispatch } = fanout
  listeners.add(listener)
  return () => {
    if (!listeners.delete(listener) || listeners.size > 0) return
    events.delete(event)
    emitter.off(event, dispatch)
  }
}
