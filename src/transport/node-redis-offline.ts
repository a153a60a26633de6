import { ConnectionError } from '../errors.ts'
import type { NodeHealth } from '../topology/health.ts'
import { type CommandDeadlines, notSentInTime } from './deadlines.ts'
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
 * (node-redis 6's per-command timer was turned off for the same cost).
 *
 * A queued command is withdrawn at its deadline too (`deadlines`, the connection's command
 * timeout), before it fails: it is reported not applied, so it must never be sent on the next
 * connection (an INCRBY retried after that report would count twice).
 */
export class OfflineCommands {
  readonly #client: NodeRedisClient
  readonly #health: NodeDown
  readonly #deadlines: CommandDeadlines | undefined
  readonly #queued: QueuedCommands

  constructor(client: NodeRedisClient, health: NodeDown, deadlines?: CommandDeadlines) {
    this.#client = client
    this.#health = health
    this.#deadlines = deadlines
    this.#queued = queueOf(client)
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
      this.#deadlines,
      this.#queued,
      args,
      (signal) => this.#client.sendCommand(args, { ...COMMAND_OPTIONS, abortSignal: signal }),
      this,
    )

  /**
   * The fleet lets go of a user's client (it is never closed by redfleet): what still waits in
   * its queue is withdrawn, never to be sent on its next connection, and fails as not sent
   * instead of waiting for a connection that may come long after close (or never).
   */
  release(): void {
    this.#queued.withdrawAll(
      (name) =>
        new ConnectionError(`${name} not sent: the fleet closed before the client had a connection`, {
          outcome: 'not-applied',
        }),
      this,
    )
  }
}

/**
 * redfleet's commands waiting in one node-redis client's queue, by their abort controllers, in
 * the order they were queued, whichever connection or route sent them (one list per client:
 * queueOf). They are withdrawn newest first: node-redis 5's queue (a linked list) leaves a stale
 * link behind when its head is removed while others follow, and after two such removals in a
 * row its tail pointed at a removed command, so the commands queued next (the user's own too)
 * were never written. Removed from the tail end, each one is unlinked cleanly.
 */
export class QueuedCommands {
  readonly #queued = new Map<AbortController, { name: string; owner: object }>()

  add(controller: AbortController, name: string, owner: object): void {
    this.#queued.set(controller, { name, owner })
  }

  delete(controller: AbortController): void {
    this.#queued.delete(controller)
  }

  /**
   * Withdraws every command (of `owner` only, when given: a fleet letting go of a client others
   * may use), newest first, each with `reason(its name)` (undefined: AbortError).
   */
  withdrawAll(reason: (name: string) => Error | undefined, owner?: object): void {
    const queued = [...this.#queued].filter(([, command]) => owner === undefined || command.owner === owner)
    this.#withdraw(queued, reason)
  }

  /**
   * Withdraws `controller`'s command at its deadline, and with it every command queued after it
   * (unsent too: the queue is written in order), newest first: each fails as not sent.
   */
  withdrawFrom(controller: AbortController): void {
    const queued = [...this.#queued]
    const at = queued.findIndex(([one]) => one === controller)
    if (at >= 0) this.#withdraw(queued.slice(at), notSentInTime)
  }

  #withdraw(
    commands: [AbortController, { name: string }][],
    reason: (name: string) => Error | undefined,
  ): void {
    for (const [controller, { name }] of commands.reverse()) {
      this.#queued.delete(controller)
      controller.abort(reason(name))
    }
  }
}

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
 * it waits in node-redis' queue and withdrawn at its deadline (`deadlines`) with what was queued after it
 * (QueuedCommands.withdrawFrom): still waiting then (no connection was ready), it is dropped
 * unsent (node-redis drops an aborted command it has not written) and fails as not sent, never
 * to be written on a later connection, where a retry of it would count twice. One already
 * written is not withdrawn (node-redis lets go of the signal as it writes it): the caller's own
 * deadline (timedSend, which lets this verdict come first) times it out. Withdrawn for another
 * reason (the node known down, close), it fails with that reason.
 */
export function withdrawable(
  deadlines: CommandDeadlines | undefined,
  queue: QueuedCommands,
  args: readonly (string | Buffer)[],
  send: (signal: AbortSignal) => Promise<unknown>,
  owner: object,
): Promise<unknown> {
  const controller = new AbortController()
  queue.add(controller, nameOf(args), owner)
  // Without a WAIT's allowance: unsent at commandTimeout, it is withdrawn then. The caller's
  // deadline (timedSend) counts the allowance, once.
  const withdrawal = { isSettled: false, reject: () => queue.withdrawFrom(controller) }
  deadlines?.add(withdrawal)
  const settled = () => {
    withdrawal.isSettled = true
    queue.delete(controller)
  }
  return send(controller.signal).then(
    (reply) => {
      settled()
      return reply
    },
    (error: unknown) => {
      settled()
      throw controller.signal.aborted && isAbortError(error) ? controller.signal.reason : error
    },
  )
}

/** node-redis' AbortError ("The command was aborted"), of either version. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.constructor.name === 'AbortError'
}
