import { CommandError, ConnectionError, isTransientFailure, messageOf, TimeoutError } from '../errors.ts'
import type { FailingNodes } from '../failing-nodes.ts'
import type { Lifecycle } from '../lifecycle.ts'
import { isRedirection } from '../loops.ts'
import { closeClient } from '../topology/connection.ts'
import type { RedisTopology } from '../topology/types.ts'
import type { DedicatedConnection } from '../transport/types.ts'

/** Default most blocking connections per node per fleet. */
export const DEFAULT_BLOCKING_CONNECTIONS = 16

/** How long past its BLOCK time a blocking read may take before its connection is given up. */
const READ_GRACE = 2000

const ABORTED: unique symbol = Symbol('aborted')

/**
 * Shortest BLOCK of a read whose node has more loops than connections (see #sharedBlock): a
 * thousand loops on 16 connections read about every 10 ms each, not in a tight loop.
 */
const SHORTEST_SHARED_BLOCK = 10

/**
 * The first pause (ms) before an aborted read that is not blocked (yet) is asked to unblock
 * again; each pause doubles: a read a few ms behind is unblocked as it arrives, one held for
 * seconds gets a dozen UNBLOCKs, not hundreds.
 */
const UNBLOCK_PAUSE = 5

/** A blocked read's reply to CLIENT UNBLOCK … ERROR (and to a failover's unblocking). */
const UNBLOCKED = /^UNBLOCKED /

/** Replies of a node that was master and is now a replica. */
const DEMOTED = /^(UNBLOCKED|READONLY) /

/** A dedicated connection lent to one blocking read. */
export interface Lease {
  readonly connection: DedicatedConnection
  readonly node: string
}

interface NodePool {
  idle: DedicatedConnection[]
  busy: number
  waiting: (() => void)[]
}

/**
 * The dedicated connections of blocking reads (XREAD / XREADGROUP BLOCK), which would stall
 * every other command if sent on the shared command connection. A read borrows one for a single
 * BLOCK interval and gives it back, so at most `limit` connections per node exist however many
 * loops run: a loop beyond the limit waits for the next free connection (at most one interval).
 * Aborting a read disconnects its connection, so the read returns at once instead of at the end
 * of its interval; the next read opens a new one.
 */
export class BlockingPool {
  readonly #topology: () => Promise<RedisTopology>
  readonly #nodes = new Map<string, NodePool>()
  readonly #all = new Set<DedicatedConnection>()
  /** Each connection's CLIENT ID, learnt with its first read; forgotten when it drops. */
  readonly #ids = new WeakMap<DedicatedConnection, number>()
  /** Unset until a primitive asks for a bound; then the largest asked for. */
  #limit: number | undefined
  #closed = false
  /** Where a node whose blocking reads get no reply is told, once for the fleet (#noReply). */
  readonly #failing: FailingNodes
  /** Where it says, once, that aborted reads cannot be unblocked (an ACL denying CLIENT). */
  readonly #report: (error: unknown) => void
  #reported = false

  constructor(
    topology: () => Promise<RedisTopology>,
    report: (error: unknown) => void,
    failing: FailingNodes,
  ) {
    this.#topology = topology
    this.#report = report
    this.#failing = failing
  }

  /** Sets the per-node limit; when several primitives of the fleet ask, the largest wins. */
  atLeast(limit: number): void {
    this.#limit = Math.max(this.#limit ?? 0, limit)
  }

  get limit(): number {
    return this.#limit ?? DEFAULT_BLOCKING_CONNECTIONS
  }

  #node(id: string): NodePool {
    let pool = this.#nodes.get(id)
    if (!pool) {
      pool = { idle: [], busy: 0, waiting: [] }
      this.#nodes.set(id, pool)
    }
    return pool
  }

  /**
   * Runs `read` (one command that blocks at most the `block` ms it is given, `block` or less)
   * on a dedicated connection to the node of `key`. Resolves `undefined` when `signal` aborts,
   * at once: while waiting for a connection, or during the read (whose connection is then
   * closed and its reply ignored).
   * A read that changes what Redis holds (`served`: an XREADGROUP delivers what it answers) is
   * not cut off but unblocked instead (CLIENT UNBLOCK from the node's command connection), and
   * resolves with what Redis had served it, for the caller to hand back; cut off only when it
   * cannot be unblocked. A read whose connection drops fails at once with ConnectionError; one
   * that gets no reply within `block` + READ_GRACE ms fails with TimeoutError (a loop reports
   * it: no node was announced down) and its connection is closed: a command caught in a
   * reconnect can stay unanswered forever (seen with ioredis 6 when the server restarts), and
   * no loop may hang on it.
   */
  async with<T>(
    key: string,
    signal: AbortSignal,
    block: number,
    read: (connection: DedicatedConnection, block: number) => Promise<T>,
    served = false,
  ): Promise<T | undefined> {
    let lease: Lease | undefined
    try {
      lease = await this.#acquire(key, signal)
    } catch (error) {
      await this.#follow(key, error)
      throw error
    }
    if (!lease) return undefined
    block = this.#sharedBlock(lease.node, block)
    let broken = false
    let timer: NodeJS.Timeout | undefined
    let onAbort = () => {}
    let onClose = () => {}
    const aborted = new Promise<typeof ABORTED>((resolve) => {
      onAbort = () => resolve(ABORTED)
    })
    const lost = new Promise<never>((_, reject) => {
      // A dropped connection (restart, crash, failover) ends the read now, not at the grace
      // timeout: the loop backs off and reads again, on a new connection to the current master.
      onClose = () => reject(new ConnectionError(`blocking read of '${key}' lost its connection`))
      timer = setTimeout(() => reject(this.#noReply(lease.node, key, block + READ_GRACE)), block + READ_GRACE)
    })
    lost.catch(() => undefined)
    signal.addEventListener('abort', onAbort, { once: true })
    lease.connection.once('close', onClose)
    if (served) this.#learnId(lease.connection)
    const reading = read(lease.connection, block)
    try {
      const outcome = await Promise.race([reading, aborted, lost])
      this.#failing.worked(lease.node, this)
      if (outcome === ABORTED) {
        // Unblocked, it answers at once: nothing, or what Redis served it before the abort.
        const ended = served ? Promise.race([reading, lost]) : undefined
        if (ended && (await this.#unblock(lease, ended))) {
          try {
            return await ended
          } catch (error) {
            // Unblocked while still blocked: it was served nothing. Its connection goes (see
            // #unblock: a read Redis had postponed runs again after its error reply).
            if (!UNBLOCKED.test(messageOf(error))) throw error
            broken = true
            return undefined
          }
        }
        broken = true
        reading.catch(() => undefined)
        return undefined
      }
      return outcome as T
    } catch (error) {
      broken = true
      reading.catch(() => undefined)
      await this.#follow(key, error)
      throw error
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      lease.connection.off('close', onClose)
      this.#release(lease, broken)
    }
  }

  /**
   * After a read failed: the key's slot may be served elsewhere now, which our dedicated
   * connection cannot follow, but the cluster client can, so that the next read's lease goes to
   * the current master. The slot moved (failover, failback, resharding) or the node stopped being
   * a master: one command through the cluster client meets the redirection and refreshes its
   * slot map. The read lost its connection (a master killed, its replica taking over): the slot
   * map is re-read (at most once a while), since a fleet that only reads sends no other command
   * that would have it re-read. (One that got no reply reaches its loop, which has the map
   * re-read: StreamBackend.loopFailed.) A single node's url is fixed: nothing to follow.
   */
  async #follow(key: string, error: unknown): Promise<void> {
    const topology = await this.#topology()
    if (topology.kind !== 'cluster') return
    if (isRedirection(error) || DEMOTED.test(messageOf(error))) {
      await Promise.resolve(topology.client(key).exists(key)).catch(() => undefined)
    } else if (error instanceof ConnectionError) {
      topology.doubtLayout()
    }
  }

  /**
   * The BLOCK of a read of `node`: `block`, or with more loops wanting that node's connections
   * than there are (those reading and those waiting), half a share of it, so that each loop's
   * turn comes within about one `block` (a loop that waited for every other to block its whole
   * interval took (loops ÷ connections) intervals: 7 s for 16 loops on 2 connections). Half:
   * the loops between two reads are counted in neither, and a whole share measured 1.4 s there.
   */
  #sharedBlock(node: string, block: number): number {
    const pool = this.#node(node)
    const wanting = pool.busy + pool.waiting.length
    if (wanting <= this.limit) return block
    return Math.min(block, Math.max(SHORTEST_SHARED_BLOCK, Math.floor((block * this.limit) / (2 * wanting))))
  }

  /**
   * A read of `node` that got no reply in `ms` (a frozen or paused server): reported by its
   * loop if it is the fleet's first sign of that node failing (FailingNodes); the others (every
   * loop's on that node, until one of its reads is answered again, and those after a near
   * cache said it) are marked announced: the default warning is one per node (SPEC §1).
   */
  #noReply(node: string, key: string, ms: number): TimeoutError {
    const error = new TimeoutError(`blocking read of '${key}' got no reply in ${ms} ms`)
    return this.#failing.failed(node, this) ? error : Object.assign(error, { announced: true })
  }

  /** Asks a connection its CLIENT ID, ahead of its read, unless known. */
  #learnId(connection: DedicatedConnection): void {
    if (this.#ids.has(connection)) return
    connection.call('CLIENT', 'ID').then(
      (id) => this.#ids.set(connection, Number(id)),
      (error: unknown) => this.#cannotUnblock(error),
    )
  }

  /** Said once: a consume's reads are cut off by an abort, and what they were delivered waits. */
  #cannotUnblock(error: unknown): void {
    // A lost connection or a timeout says nothing about CLIENT: the next abort may unblock.
    if (this.#reported || this.#closed || isTransientFailure(error) || error instanceof ConnectionError)
      return
    this.#reported = true
    this.#report(
      new CommandError(
        `streams.consume: an aborted read cannot be unblocked (${messageOf(error)}); its connection ` +
          'is closed instead, and the entries Redis had just delivered to it are reclaimed after minIdle',
        { cause: error },
      ),
    )
  }

  /**
   * Ends the blocking read of `lease` at once with CLIENT UNBLOCK sent from its node's command
   * connection, after which the read answers: UNBLOCKED, or what Redis served it. `ended`
   * settles with the read, or when its connection drops or its bound passes. False when it
   * cannot be unblocked (the read is then cut off).
   */
  async #unblock(lease: Lease, ended: Promise<unknown>): Promise<boolean> {
    let over = false
    const end = () => {
      over = true
    }
    // Followed from the start: a read cut off (false) rejects, and nobody else waits for `ended`.
    const ending = ended.then(end, end)
    const id = this.#ids.get(lease.connection)
    if (id === undefined) return false
    try {
      const node = (await (await this.#topology()).masters()).find((master) => master.id === lease.node)
      if (!node) return false
      // 0: the read is not blocked. Either Redis has not read it yet (the two connections'
      // commands reach it in either order, and an UNBLOCK ahead of the read left it blocked for
      // its whole interval), or it answered and its reply is on its way (a large one takes a
      // while to read; cut off, what Redis delivered would wait for minIdle). Asked again, less
      // and less often, until it was blocked or the read ended.
      for (let pause = UNBLOCK_PAUSE; !over; pause *= 2) {
        // ERROR, not the default TIMEOUT: Redis 7.0 crashes (Guru Meditation, "Unknown btype in
        // replyToBlockedClientTimedOut") when TIMEOUT meets a read it postponed (CLIENT PAUSE
        // WRITE). An unblocked read answers UNBLOCKED, having been served nothing; a postponed
        // one also runs once the pause ends, and its second reply must reach no other command.
        if (Number(await node.client.call('CLIENT', 'UNBLOCK', id, 'ERROR')) === 1) return true
        let timer: NodeJS.Timeout | undefined
        await Promise.race([ending, new Promise((resolve) => (timer = setTimeout(resolve, pause)))])
        clearTimeout(timer)
      }
      return true
    } catch (error) {
      this.#cannotUnblock(error)
      return false
    }
  }

  async #acquire(key: string, signal: AbortSignal): Promise<Lease | undefined> {
    const topology = await this.#topology()
    const [batch] = await topology.batches([key])
    const node = batch!.node
    const pool = this.#node(node)
    while (!this.#closed && !signal.aborted && pool.idle.length === 0 && pool.busy >= this.limit) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener('abort', wake)
          const at = pool.waiting.indexOf(wake)
          if (at !== -1) pool.waiting.splice(at, 1)
          resolve()
        }
        pool.waiting.push(wake)
        signal.addEventListener('abort', wake, { once: true })
      })
    }
    if (this.#closed || signal.aborted) return undefined
    pool.busy++
    const idle = pool.idle.pop()
    if (idle) return { connection: idle, node }
    try {
      const connection = await topology.dedicatedToNode(node)
      // A connection that drops opens again as another client.
      connection.on('close', () => this.#ids.delete(connection))
      this.#all.add(connection)
      if (this.#closed) connection.disconnect()
      return { connection, node }
    } catch (error) {
      pool.busy--
      pool.waiting.shift()?.()
      throw error
    }
  }

  #release(lease: Lease, broken: boolean): void {
    const pool = this.#node(lease.node)
    pool.busy--
    if (broken || this.#closed || lease.connection.status === 'end') {
      this.#all.delete(lease.connection)
      lease.connection.disconnect()
    } else {
      pool.idle.push(lease.connection)
    }
    pool.waiting.shift()?.()
  }

  /** Closes every connection, lent or idle; reads in flight fail and their loops end. */
  async close(): Promise<void> {
    this.#closed = true
    for (const pool of this.#nodes.values()) {
      for (const wake of pool.waiting.splice(0)) wake()
    }
    const idle = new Set([...this.#nodes.values()].flatMap((pool) => pool.idle.splice(0)))
    const all = [...this.#all]
    this.#all.clear()
    await Promise.all(all.map((c) => (idle.has(c) ? closeClient(c) : Promise.resolve(c.disconnect()))))
  }
}

const pools = new WeakMap<Lifecycle, BlockingPool>()

/** The fleet's one pool (a fleet is identified by its lifecycle), closed when the fleet closes. */
export function blockingPoolOf(
  lifecycle: Lifecycle,
  topology: () => Promise<RedisTopology>,
  report: (error: unknown) => void,
  failing: FailingNodes,
): BlockingPool {
  let pool = pools.get(lifecycle)
  if (!pool) {
    const created = new BlockingPool(topology, report, failing)
    pool = created
    pools.set(lifecycle, created)
    lifecycle.onClose(() => created.close())
  }
  return pool
}
