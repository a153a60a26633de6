import { APPLIED_BESIDE, isRefusedMidMigration, partlyApplied } from '../errors.ts'
import type { CommandArg, CommandConnection } from './types.ts'

/** A command of several keys as commands of one key each, and how their replies make its reply. */
interface PerKey {
  readonly commands: [name: string, args: CommandArg[]][]
  merge(replies: unknown[]): unknown
}

const sum = (replies: unknown[]): number => replies.reduce<number>((total, n) => total + Number(n), 0)

/** The multi-key commands redfleet sends on a batch of keys, each split into one command per key. */
function perKey(name: string, args: readonly CommandArg[]): PerKey | undefined {
  switch (name.toUpperCase()) {
    case 'MGET':
      return { commands: args.map((key) => ['GET', [key]]), merge: (replies) => replies }
    case 'MSET': {
      const commands: PerKey['commands'] = []
      for (let i = 0; i + 1 < args.length; i += 2) commands.push(['SET', [args[i]!, args[i + 1]!]])
      return { commands, merge: () => 'OK' }
    }
    case 'UNLINK':
    case 'DEL':
    case 'EXISTS':
      return { commands: args.map((key) => [name, [key]]), merge: sum }
    default:
      return undefined
  }
}

/**
 * The command `name args` sent again as one command per key when `error` is its refusal for a
 * slot's migration (TRYAGAIN: isRefusedMidMigration), or undefined when it is not (or the
 * command is not one of those split). Redis refuses a command
 * of several keys of one slot halfway through a migration (some keys moved, some not) for as
 * long as the migration runs: a getMany, a setMany or a cache readMulti of such keys failed
 * until it ended. Each key's own command runs where that key is: on the source master, or after
 * an ASK (which `send`'s client follows) on the importing one. A multi-key read is then no longer
 * one atomic step, as across slots already.
 */
export function sentPerKey(
  error: unknown,
  name: string,
  args: readonly CommandArg[],
  send: (name: string, args: CommandArg[]) => Promise<unknown>,
): Promise<unknown> | undefined {
  if (!isRefusedMidMigration(error)) return undefined
  const split = perKey(name, args)
  if (split === undefined) return undefined
  return Promise.allSettled(split.commands.map(([command, keyArgs]) => send(command, keyArgs))).then(
    (replies) => {
      const failed = replies.find((reply) => reply.status === 'rejected')
      if (failed === undefined)
        return split.merge(replies.map((reply) => (reply as PromiseFulfilledResult<unknown>).value))
      // A write some of whose keys were written: its outcome is not "nothing ran".
      const written = splitsWrite(name) && replies.some((reply) => reply.status === 'fulfilled')
      throw written ? partlyApplied(failed.reason, APPLIED_BESIDE) : failed.reason
    },
  )
}

/** Whether `name` is a command that sentPerKey splits and that writes. */
export function splitsWrite(name: string): boolean {
  const upper = name.toUpperCase()
  return upper === 'MSET' || upper === 'UNLINK' || upper === 'DEL'
}

/** MGET of `keys` (of one slot) on `client`; refused for the slot's migration, read key by key. */
export function mgetPerKeyIfRefused(
  client: Pick<CommandConnection, 'mget' | 'call'>,
  keys: readonly string[],
): Promise<(string | null)[]> {
  return client
    .mget(...keys)
    .catch(
      (error: unknown) =>
        (sentPerKey(error, 'MGET', keys, (name, args) => client.call(name, ...args)) as
          | Promise<(string | null)[]>
          | undefined) ?? Promise.reject(error),
    )
}
