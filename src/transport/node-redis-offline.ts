import { ConnectionError } from '../errors.ts'
import type { NodeHealth } from '../topology/health.ts'
import { blocksFor, type CommandDeadlines, notSentInTime } from './deadlines.ts'
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
  /** The commands in the client's offline queue, by their abort controller, with their names. */
  readonly #queued = new Map<AbortController, string>()

  constructor(client: NodeRedisClient, health: NodeDown, deadlines?: CommandDeadlines) {
    this.#client = client
    this.#health = health
    this.#deadlines = deadlines
    health.onChange((down) => {
      if (down) this.#withdraw()
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
  readonly send: Send = (args) => {
    const controller = new AbortController()
    this.#queued.set(controller, nameOf(args))
    const sent = withdrawable(
      this.#deadlines,
      args,
      (signal) => this.#client.sendCommand(args, { ...COMMAND_OPTIONS, abortSignal: signal }),
      controller,
    )
    const forget = () => this.#queued.delete(controller)
    sent.then(forget, forget)
    return sent
  }

  /**
   * The fleet lets go of a user's client (it is never closed by redfleet): what still waits in
   * its queue is withdrawn, never to be sent on its next connection, and fails as not sent
   * instead of waiting for a connection that may come long after close (or never).
   */
  release(): void {
    this.#withdraw(
      (name) =>
        new ConnectionError(`${name} not sent: the fleet closed before the client had a connection`, {
          outcome: 'not-applied',
        }),
    )
  }

  #withdraw(reason = (name: string): Error | undefined => this.#health.refusalIfDown(name)): void {
    // Newest first: node-redis 5's queue (a linked list) leaves a stale link behind when its
    // head is removed and the next one becomes head; after 100+ such removals its tail pointed
    // at a removed command, and the commands queued next (the user's own) were never written.
    // Removed from the tail end, each one is unlinked cleanly.
    for (const [controller, name] of [...this.#queued].reverse()) {
      this.#queued.delete(controller)
      controller.abort(reason(name))
    }
  }
}

/**
 * A command sent with an AbortSignal of redfleet's (`controller`'s) that `deadlines` aborts at
 * the command's deadline: still waiting in node-redis' queue then (no connection was ready), it
 * is dropped unsent (node-redis drops an aborted command it has not written) and fails as not
 * sent, never to be written on a later connection, where a retry of it would count twice. One
 * already written is not withdrawn (node-redis lets go of the signal as it writes it): the
 * caller's own deadline (timedSend, which lets this verdict come first) times it out. Aborted
 * for another reason (the node known down, close), it fails with that reason.
 */
export function withdrawable(
  deadlines: CommandDeadlines | undefined,
  args: readonly (string | Buffer)[],
  send: (signal: AbortSignal) => Promise<unknown>,
  controller = new AbortController(),
): Promise<unknown> {
  const withdrawal = { isSettled: false, reject: () => controller.abort(notSentInTime()) }
  deadlines?.add(withdrawal, blocksFor(String(args[0]), args, 1))
  return send(controller.signal).then(
    (reply) => {
      withdrawal.isSettled = true
      return reply
    },
    (error: unknown) => {
      withdrawal.isSettled = true
      throw controller.signal.aborted && isAbortError(error) ? controller.signal.reason : error
    },
  )
}

/** node-redis' AbortError ("The command was aborted"), of either version. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.constructor.name === 'AbortError'
}
