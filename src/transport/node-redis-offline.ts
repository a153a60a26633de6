import { ConnectionError } from '../errors.ts'
import type { NodeHealth } from '../topology/health.ts'
import { COMMAND_OPTIONS, type NodeRedisClient } from './node-redis-client.ts'
import type { Send } from './node-redis-pipeline.ts'

/** What it needs of its node's health (a NodeHealth, src/topology/health.ts). */
export type NodeDown = Pick<NodeHealth, 'refusalIfDown' | 'onChange' | 'nextReady'>

/** A command's name, as a refusal names it. */
const nameOf = (args: readonly (string | Buffer)[]): string => String(args[0]).toUpperCase()

/**
 * The commands of a user's node-redis client while it has no ready connection (SPEC §8). While
 * its node is known to be down a command is refused at once (`refusal`), never handed to the
 * client. Before that (a connection just lost, a reconnect not failed yet) it is handed to the
 * client, which queues it for its next connection, with an AbortSignal of redfleet's: when the
 * node then goes down, what still waits in the queue is withdrawn (node-redis drops an aborted
 * command it has not written) and fails with the refusal, as ioredis' offline queue is flushed,
 * instead of waiting for commandTimeout and being sent on a later connection anyway. A client
 * with a ready connection is sent to directly (clientSend in node-redis.ts), without a signal
 * (node-redis 6's per-command timer was turned off for the same cost). At its deadline a queued
 * command fails as a lost connection with outcome unknown (see withdrawable).
 */
export class OfflineCommands {
  readonly #client: NodeRedisClient
  readonly #health: NodeDown
  readonly #queued: QueuedCommands
  /** Whose commands they are in the client's queue: a cluster's master connections are the cluster's. */
  readonly #owner: object

  constructor(client: NodeRedisClient, health: NodeDown, owner?: object) {
    this.#client = client
    this.#health = health
    this.#queued = queueOf(client)
    this.#owner = owner ?? this
    health.onChange((down) => {
      if (down) this.#queued.withdrawAll((name) => this.#health.refusalIfDown(name))
    })
  }

  /**
   * The error a command fails with at once while the client is open but not ready, or undefined
   * when it may be queued (`send`). A ready client is sent to directly by its connection.
   */
  refusal(args: readonly (string | Buffer)[]): Error | undefined {
    return this.#health.refusalIfDown(nameOf(args))
  }

  /** Hands a command to the client while it is not ready: withdrawable while it is queued. */
  readonly send: Send = (args) =>
    withdrawable(
      this.#queued,
      args,
      (signal) => this.#client.sendCommand(args, { ...COMMAND_OPTIONS, abortSignal: signal }),
      this.#owner,
    )

  /**
   * The fleet lets go of a user's client (it is never closed by redfleet): what still waits in
   * its queue is withdrawn, never to be sent on its next connection, and fails as not sent
   * instead of waiting for a connection that may come long after close (or never); what waits
   * behind another fleet's command stays queued, its caller told at once (see withdrawAll).
   */
  release(): void {
    this.#queued.withdrawAll(
      (name) =>
        new ConnectionError(`${name} not sent: the fleet closed before the client had a connection`, {
          outcome: 'not-applied',
        }),
      this.#owner,
    )
  }
}

/** A command of redfleet's in a node-redis client's queue, as QueuedCommands keeps it. */
interface Queued {
  readonly name: string
  readonly owner: object
  /** Fails its caller at once, the command left in node-redis' queue. */
  readonly letGo: (error: Error) => void
}

/**
 * redfleet's commands waiting in one node-redis client's queue, by their abort controllers, in
 * the order they were queued, whichever connection or route sent them (one list per client:
 * queueOf), withdrawn when their node is known down or the fleet lets go of the client. Newest
 * first: node-redis 5's queue (a linked list) leaves a stale link behind when its head is removed
 * while others follow, and after two such removals its tail pointed at a removed command, so the
 * commands queued next (the user's own too) were never written. Removed from the tail end, each
 * one is unlinked cleanly. (Not at a command's deadline: commands of other routes or fleets
 * queued between would make the removals out of order; see withdrawable.)
 */
export class QueuedCommands {
  readonly #queued = new Map<AbortController, Queued>()

  add(controller: AbortController, command: Queued): void {
    this.#queued.set(controller, command)
  }

  delete(controller: AbortController): void {
    this.#queued.delete(controller)
  }

  /**
   * Withdraws the commands, newest first, each with `reason(its name)` (undefined: AbortError):
   * every one, or, given an `owner` (a fleet letting go of a client others may use), the owner's
   * newer than any other owner's. Past that the removals would leave another's command at the
   * head of node-redis' queue with a stale link, and its own removal later would lose every
   * command queued after it: the owner's older ones stay queued, to be written on the client's
   * next connection, and their callers fail at once as a lost connection, outcome unknown.
   */
  withdrawAll(reason: (name: string) => Error | undefined, owner?: object): void {
    let others = false
    for (const [controller, command] of [...this.#queued].reverse()) {
      if (owner !== undefined && command.owner !== owner) {
        others = true
        continue
      }
      this.#queued.delete(controller)
      if (others) command.letGo(leftQueued(command.name))
      else controller.abort(reason(command.name))
    }
  }
}

/** What the caller of a command left in the queue at close is told (see withdrawAll). */
const leftQueued = (name: string): Error =>
  new ConnectionError(
    `${name} may still be sent: the fleet closed while it waited for the client's next connection, behind another's command`,
    { outcome: 'unknown' },
  )

const queues = new WeakMap<object, QueuedCommands>()

/** The one list of redfleet's commands waiting in `client`'s queue. */
export function queueOf(client: object): QueuedCommands {
  let queue = queues.get(client)
  if (!queue) {
    queue = new QueuedCommands()
    queues.set(client, queue)
  }
  return queue
}

/**
 * A command sent with an AbortSignal of redfleet's, registered in `queue` (as `owner`'s) while
 * it may wait in node-redis' queue for a connection: withdrawn when its node is known down, or
 * when the fleet lets go of the client, it is dropped unsent (node-redis drops an aborted command
 * it has not written) and fails with that reason (not sent). It is not withdrawn at its deadline:
 * that fails it as a lost connection whose outcome is unknown (connectionDeadlines), since
 * node-redis may still write it on its next connection, in order with what follows it.
 */
export function withdrawable(
  queue: QueuedCommands,
  args: readonly (string | Buffer)[],
  send: (signal: AbortSignal) => Promise<unknown>,
  owner: object,
): Promise<unknown> {
  const controller = new AbortController()
  return new Promise((resolve, reject) => {
    queue.add(controller, { name: nameOf(args), owner, letGo: reject })
    send(controller.signal).then(
      (reply) => {
        queue.delete(controller)
        resolve(reply)
      },
      (error: unknown) => {
        queue.delete(controller)
        reject(controller.signal.aborted && isAbortError(error) ? controller.signal.reason : error)
      },
    )
  })
}

/** node-redis' AbortError ("The command was aborted"), of either version. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.constructor.name === 'AbortError'
}
