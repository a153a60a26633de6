import type { NodeRedisClient } from './node-redis-client.ts'
import { listenShared } from './shared-listeners.ts'

/** node-redis' own switch for its writes (`_pause`, `_unpause`; without them, nothing is held). */
interface Pausable {
  _pause(): void
  _unpause(): void
}

/** How many fleets hold a client's writes while its connection is lost, and whether one did. */
interface Hold {
  holders: number
  paused: boolean
}

const holds = new WeakMap<object, Hold>()

/**
 * Holds a node-redis client's writes from the loss of its connection until its next one is up.
 * node-redis 5 (up to 5.12.1 at least) writes a command made while the connection was up at
 * the end of the loop's turn (setImmediate), onto whatever socket it holds then: when the loss
 * was handled first, that is the lost socket, and the command counts as sent without being so.
 * Its reply is then the first one of the next connection (its handshake's, "ERR unknown
 * subcommand 'SETINFO'" on Redis 7.0), and every reply after it goes to the command behind
 * (a stream's claim answered with CLUSTER SLOTS; the handshake never done, the client never
 * ready again): helper-291, 2 of 2 cluster runs with connections killed. Held, the command stays
 * queued and goes out on the next connection after its handshake, as one made while the client
 * was reconnecting does. (node-redis 6 checks that the socket is writable instead.)
 *
 * Returns what lets go of the client again (a user's client, when the fleet closes): writes
 * still held then resume with the client's next connection.
 */
export function holdWritesWhileLost(client: NodeRedisClient): () => void {
  const pausable = client as NodeRedisClient & Partial<Pausable>
  const { _pause: pause, _unpause: unpause } = pausable
  if (typeof pause !== 'function' || typeof unpause !== 'function') return () => {}
  let hold = holds.get(client)
  if (hold === undefined) {
    hold = { holders: 0, paused: false }
    holds.set(client, hold)
  }
  const held = hold
  held.holders++
  let released = false
  // Only a connection that was ready can have a write scheduled (node-redis schedules none
  // otherwise): an 'error' during a handshake (after 'connect', before 'ready': a legacy-mode
  // client's refused command, a listener that threw) holds nothing, or what the handshake still
  // had to write would wait until the next loss (helper-293). One of a client still ready (a
  // reply it could not parse) loses no connection.
  let up = client.isReady
  const ready = () => {
    up = true
  }
  const lost = () => {
    if (released || !up || client.isReady || !client.isOpen) return
    up = false
    if (held.paused) return
    held.paused = true
    pause.call(pausable)
  }
  const resume = () => {
    if (held.paused) {
      held.paused = false
      unpause.call(pausable)
    }
    if (released) letGo()
  }
  // 'connect': the next socket is up and its handshake not yet queued, which must be written.
  const stops = [
    listenShared(client, 'error', lost),
    listenShared(client, 'connect', resume),
    listenShared(client, 'ready', ready),
    listenShared(client, 'end', resume),
  ]
  const letGo = () => {
    for (const stop of stops) stop()
  }
  return () => {
    if (released) return
    released = true
    // The last to let go of writes held: they resume with the next connection, not now (a
    // command made before the loss would still be written onto the lost socket).
    if (--held.holders > 0 || !held.paused) letGo()
  }
}
