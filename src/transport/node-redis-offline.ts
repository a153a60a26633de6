import type { NodeHealth } from '../topology/health.ts'
import type { CommandDeadlines } from './deadlines.ts'
import { COMMAND_OPTIONS, type NodeRedisClient } from './node-redis-client.ts'
import type { Send } from './node-redis-pipeline.ts'

/** What it needs of its node's health (a NodeHealth, src/topology/health.ts). */
export type NodeDown = Pick<NodeHealth, 'refusalIfDown' | 'onChange'>

/** A command's name, as a refusal names it. */
const nameOf = (args: readonly (string | Buffer)[]): string => String(args[0]).toUpperCase()

/**
 * The commands of a node-redis client while it has no ready connection (SPEC §8). While its node
 * is known to be down a command is refused at once (`refusal`). Before that (a connection just
 * lost, a first one not made yet) it waits here, not in the client's offline queue, until the
 * client is ready, and is then handed to it in the order the commands came: node-redis writes
 * its offline queue in the same write as a new connection's handshake, so a SELECT the server
 * refuses (a db it does not have) would run them in db 0 all the same. When the node goes down,
 * what waits fails with the refusal, as ioredis' offline queue is flushed; a command still
 * waiting at its deadline (`deadlines`, the connection's command timeout) is withdrawn before it
 * fails, so it is never sent after its caller was told it was not (an INCRBY retried after that
 * report would count twice). A client with a ready connection is sent to directly (clientSend
 * in node-redis.ts).
 */
export class OfflineCommands {
  readonly #client: NodeRedisClient
  readonly #health: NodeDown
  readonly #deadlines: CommandDeadlines | undefined
  /** The commands waiting for a ready connection, oldest first. */
  #waiting: Waiting[] = []

  constructor(client: NodeRedisClient, health: NodeDown, deadlines?: CommandDeadlines) {
    this.#client = client
    this.#health = health
    this.#deadlines = deadlines
    health.onChange((down) => {
      if (down) this.#refuseWaiting()
    })
    client.on('ready', () => this.#handOver())
  }

  /**
   * The error a command fails with at once while the client is open but not ready, or undefined
   * when it may wait (`send`). A ready client is sent to directly by its connection.
   */
  refusal(args: readonly (string | Buffer)[]): Error | undefined {
    return this.#health.refusalIfDown(nameOf(args))
  }

  /** Keeps a command until the client is ready: withdrawable until then. */
  readonly send: Send = (args) =>
    new Promise((resolve, reject) => {
      const waiting: Waiting = { args, resolve, reject, isSettled: false }
      this.#waiting.push(waiting)
      // Added before the caller's own deadline (same timeout): withdrawn first, then failed.
      this.#deadlines?.add({
        get isSettled() {
          return waiting.isSettled
        },
        reject: (error) => this.#withdraw(waiting, error),
      })
    })

  /** The client is ready: what waited is sent, in order, before anything sent after. */
  #handOver(): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const command of waiting) {
      command.isSettled = true
      this.#client.sendCommand(command.args, COMMAND_OPTIONS).then(command.resolve, command.reject)
    }
  }

  #withdraw(command: Waiting, error: Error): void {
    const at = this.#waiting.indexOf(command)
    if (at < 0) return
    this.#waiting.splice(at, 1)
    command.isSettled = true
    command.reject(error)
  }

  #refuseWaiting(): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const command of waiting) {
      command.isSettled = true
      // Called as the node goes down: there is a refusal.
      command.reject(this.#health.refusalIfDown(nameOf(command.args))!)
    }
  }
}

/** A command waiting for a ready connection, and its caller. */
interface Waiting {
  readonly args: (string | Buffer)[]
  readonly resolve: (reply: unknown) => void
  readonly reject: (error: unknown) => void
  /** Handed to the client, withdrawn or refused: its deadline no longer withdraws it. */
  isSettled: boolean
}
