import { Redis } from 'ioredis'
import { createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import type { MembershipHandle } from '../../src/membership/index.ts'
import { deferred } from '../harness/deferred.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/**
 * Calls `check` until it returns a value other than undefined: for states Redis sends no event
 * about. No time limit of its own: the test runner's timeout ends a wait that never ends.
 */
export async function until<T>(check: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export const MEMBERS = ['api-1', 'api-2', 'worker-1']
export const LIVE_JOBS = ['invoice-17', 'invoice-18']
export const ORPHAN_JOBS = ['report-3', 'report-4']
export const EVENTS = [
  { order: 101, customer: 'ada', note: '<img src=x onerror=alert(1)>' },
  { order: 102, customer: 'grace' },
  { order: 103, customer: 'linus' },
]

/**
 * A busy fleet on one Redis: live members, a tracker instance with jobs in flight, orphans (a
 * tracker stopped without releasing its jobs), a group whose consumer holds entries pending,
 * and dead letters made by a real consume loop whose handler throws.
 */
export async function busyFleet(options: FleetOptions) {
  const namespace = uniqueNamespace('dash')
  const fleet: Fleet = createFleet({ ...options, namespace })
  const raw = new Redis(String(options.url))
  const stops: (() => Promise<unknown>)[] = []
  const finish = deferred()
  const close = async () => {
    // Jobs and the audit handler end first: loops wait for their handlers before stopping.
    finish.resolve()
    for (const stop of stops.reverse()) await stop()
    raw.disconnect()
    await fleet.close()
  }
  try {
    await populate(fleet, raw, stops, finish.promise)
  } catch (error) {
    await close()
    throw error
  }
  return { fleet, namespace, raw, deadKey: `${namespace}:streams:channel:billing:dead`, close }
}

async function populate(
  fleet: Fleet,
  raw: Redis,
  stops: (() => Promise<unknown>)[],
  finished: Promise<void>,
): Promise<void> {
  const membership = fleet.membership()
  const joined: MembershipHandle[] = MEMBERS.map((id) => membership.join(id))
  stops.push(() => Promise.all(joined.map((j) => j.stop())))

  const live = fleet.tracker({ instanceId: 'worker-live' })
  await live.start()
  const liveJobs = LIVE_JOBS.map((id) => live.track(id, { job: id, amount: 42 }, () => finished))
  const gone = fleet.tracker({ instanceId: 'worker-gone' })
  await gone.start()
  const goneJobs = ORPHAN_JOBS.map((id) => gone.track(id, { job: id }, () => finished))
  await until(async () => ((await gone.inFlight()).length === ORPHAN_JOBS.length ? true : undefined))
  await until(async () => ((await live.inFlight()).length === LIVE_JOBS.length ? true : undefined))
  await gone.stop()
  stops.push(async () => {
    await Promise.allSettled([...liveJobs, ...goneJobs])
    await live.stop({ releaseJobs: true })
  })

  const streams = fleet.streams()
  for (const event of EVENTS) await streams.publish(event)

  // 'audit' holds every entry pending: its handler never finishes the first one.
  const auditing = new AbortController()
  const auditStarted = deferred()
  const audit = streams.consume(
    'audit',
    'auditor-1',
    async () => {
      auditStarted.resolve()
      await finished
    },
    { signal: auditing.signal },
  )
  await auditStarted.promise
  stops.push(async () => {
    auditing.abort()
    await audit
  })

  // 'billing' fails every entry: after two deliveries each becomes a dead letter.
  const failing = new AbortController()
  const billing = streams.consume(
    'billing',
    'biller-1',
    () => {
      throw new Error('card declined <b>for real</b>')
    },
    { signal: failing.signal, maxDeliveries: 2, minIdle: 200 },
  )
  const deadKey = `${fleet.namespace}:streams:channel:billing:dead`
  // Every entry dead-lettered (at least once) and acked.
  await until(async () => ((await raw.xlen(deadKey)) >= EVENTS.length ? true : undefined))
  await until(async () => ((await streams.groupLag('billing')) === 0 ? true : undefined))
  failing.abort()
  await billing
}
