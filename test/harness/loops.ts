/**
 * The four long-running readers of a fleet, watched together for fault tests: `consume`,
 * `tail` (one channel), `tailEvents` and `membership.inbox`. `publish(label, n)` writes n
 * entries to all of them from a new fleet made by `publisher` (retrying each write until it
 * succeeds: the deployment may still be settling),
 * `until(labels)` waits until every loop has handled every entry of those labels. Entries are
 * counted once each (at-least-once: a redelivered entry is not a new one). A loop that ends
 * before `stop()` fails the wait at once with its error, or with "ended" if it resolved.
 */
import type { Delivery, Fleet } from '../../src/index.ts'
import { SETTLE_BOUND } from './faults.ts'

/**
 * consume's minIdle: an entry whose delivery reply was lost in a crash stays pending to the
 * consumer until it is reclaimed, after this long.
 */
export const MIN_IDLE = 2000

export const LOOPS = ['consume', 'tail', 'tailEvents', 'inbox'] as const
export type LoopName = (typeof LOOPS)[number]

export interface LoopNames {
  /** Channel of the tail. */
  channel: string
  /** Member whose inbox is read. */
  member: string
}

export interface WatchedLoops {
  /** Tags handled per loop (the envelope's `tag`), each once. */
  readonly seen: Record<LoopName, Set<string>>
  /** What the fleet reported to onError while the loops ran, by op. */
  readonly reported: { op: string; error: unknown }[]
  /** Publishes `n` entries tagged `${label}:${i}` to every loop's source, from a new fleet. */
  publish(label: string, n: number): Promise<string[]>
  /** Waits until every loop has handled every tag; bounded by SETTLE_BOUND after the last write. */
  until(tags: readonly string[], bound?: number): Promise<void>
  /** Aborts the loops and waits for them; rejects if one failed. */
  stop(): Promise<void>
}

/**
 * Starts the four loops on `fleet`. `reported` must be the array the fleet's onError pushes to
 * (the caller creates the fleet, so it owns its options).
 */
export async function watchLoops(
  fleet: Fleet,
  names: LoopNames,
  reported: { op: string; error: unknown }[],
  publisher: () => Fleet,
): Promise<WatchedLoops> {
  const streams = fleet.streams()
  const membership = fleet.membership()
  const controller = new AbortController()
  const { signal } = controller
  const seen = Object.fromEntries(LOOPS.map((name) => [name, new Set<string>()])) as Record<
    LoopName,
    Set<string>
  >
  const waiters = new Set<() => void>()
  const changed = () => {
    for (const wake of [...waiters]) wake()
  }
  const handled = (loop: LoopName) => (tag: unknown) => {
    if (typeof tag === 'string') seen[loop].add(tag)
    changed()
  }
  const tagOf = (d: Delivery) => d.envelope.tag
  // Before any entry is published: the group replays from 0, so consume misses nothing.
  await retryUntilDone(() => streams.ensureGroup('g'))
  let failure: unknown
  const ended: Promise<void>[] = []
  const watch = (name: LoopName, loop: Promise<void>) => {
    ended.push(
      loop.then(
        () => {
          if (!signal.aborted) failure ??= new Error(`${name} ended by itself`)
          changed()
        },
        (error: unknown) => {
          failure ??= error
          changed()
        },
      ),
    )
  }
  watch(
    'consume',
    streams.consume('g', 'c', (d) => handled('consume')(tagOf(d)), { signal, minIdle: MIN_IDLE }),
  )
  watch(
    'tail',
    streams.tail(names.channel, '0', (d) => handled('tail')(tagOf(d)), { signal }),
  )
  watch(
    'tailEvents',
    streams.tailEvents((d) => handled('tailEvents')(tagOf(d)), { signal }),
  )
  watch(
    'inbox',
    (async () => {
      for await (const message of membership.inbox(names.member, { signal, from: '0' })) {
        handled('inbox')((message as { tag?: unknown }).tag)
      }
    })(),
  )

  const publishWith = async (writer: Fleet, tags: readonly string[]) => {
    for (const tag of tags) {
      await retryUntilDone(() => writer.streams().publish({ tag }, [names.channel]))
      await retryUntilDone(() => writer.membership().send(names.member, { tag }))
    }
  }
  // Each batch is written by a new fleet, like another process that starts after the fault:
  // what is tested is the loops' recovery, not the publishing fleet's.
  const publishFresh = async (tags: readonly string[]) => {
    const writer = publisher()
    try {
      await publishWith(writer, tags)
    } finally {
      await writer.close()
    }
  }

  const until = (tags: readonly string[], bound = SETTLE_BOUND): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (failure !== undefined) return finish(failure)
        if (LOOPS.every((loop) => tags.every((tag) => seen[loop].has(tag)))) finish()
      }
      const finish = (error?: unknown) => {
        waiters.delete(check)
        clearTimeout(timer)
        if (error === undefined) resolve()
        else reject(error)
      }
      const timer = setTimeout(() => {
        const missing = LOOPS.map(
          (loop) => `${loop}: ${tags.filter((t) => !seen[loop].has(t)).length} missing`,
        )
        finish(
          new Error(
            `not every loop handled ${tags.length} entries within ${bound} ms (${missing.join(', ')})`,
          ),
        )
      }, bound)
      waiters.add(check)
      check()
    })

  // tailEvents starts from '$': entries published before its first read would be skipped, so
  // warm up until it has seen one (then every later one is after its position).
  const warmer = publisher()
  try {
    for (let i = 0; seen.tailEvents.size === 0 && failure === undefined; i++) {
      await publishWith(warmer, [`warm:${i}`])
      await until([`warm:${i}`], 200).catch(() => undefined)
    }
  } finally {
    await warmer.close()
  }

  return {
    seen,
    reported,
    async publish(label, n) {
      const tags = Array.from({ length: n }, (_, i) => `${label}:${i}`)
      await publishFresh(tags)
      return tags
    },
    until,
    async stop() {
      controller.abort()
      await Promise.all(ended)
      if (failure !== undefined) throw failure
    },
  }
}

/**
 * Repeats `write` until it succeeds, at most SETTLE_BOUND: the test's own writes must land
 * whatever the fleet's state (a repeated publish is a duplicate the loops count once).
 */
async function retryUntilDone(write: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + SETTLE_BOUND
  for (;;) {
    try {
      await write()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}
