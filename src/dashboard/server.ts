import Fastify from 'fastify'
import { type Fleet, fleetContext } from '../fleet.ts'
import { walkNamespace } from '../inspect.ts'
import { ACTION_AJV, registerActions } from './actions.ts'
import { registerAssets } from './assets.ts'
import { isLoopback, listenAddress, loopbackHostGuard, tokenGuard } from './auth.ts'
import { readStreamCounters } from './counters.ts'
import { partDeadline, readDeadline } from './deadline.ts'
import { KEYSPACE_INTERVAL, KeyspaceWatch } from './keyspace.ts'
import { MemberWatch } from './members.ts'
import { renderMetrics, renderNodeMetrics } from './metrics.ts'
import { NodeWatch } from './nodes.ts'
import { type Reading, Sampler } from './sampler.ts'
import { SnapshotError, SnapshotReader } from './snapshot.ts'
import { registerViews } from './views.ts'

export interface DashboardOptions {
  host: string
  port: number
  /** When set, every request must carry it (SPEC §9). */
  token?: string
  /** Replay/purge dead letters and release orphans; off: those endpoints answer 403. */
  allowActions: boolean
  /** Where actions are logged (one line each). */
  log?: (line: string) => void
  /** Page refresh and rate sampling interval, ms; default 2000. */
  interval?: number
  /**
   * How often the namespace is walked (SCAN of every key of every master) for the key counts and
   * the streams, ms; default 30000, never below `interval`.
   */
  keyspaceInterval?: number
}

/** How many samples the charts keep: ten minutes at the default interval. */
const HISTORY_MS = 10 * 60_000

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`
}

/**
 * Serves the operator dashboard of `fleet` (SPEC §9): the overview, drill-down pages, their
 * JSON, `/status.json`, `/metrics` (SPEC §11) and, with `allowActions`, the actions. Samples
 * the fleet's rates every interval while it runs. Rejects when it cannot listen. `close()`
 * stops the sampler and the server; the fleet stays open (it belongs to the caller).
 */
export async function startDashboard(
  fleet: Fleet,
  o: DashboardOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const ctx = fleetContext(fleet)
  const interval = o.interval ?? 2000
  const deadline = readDeadline(interval, ctx.commandTimeout)
  const partWithin = partDeadline(deadline)
  const log = o.log ?? (() => undefined)
  const nodes = new NodeWatch(ctx, partWithin)
  const members = new MemberWatch(ctx, partWithin)
  const keyspace = new KeyspaceWatch(
    () => walkNamespace(fleet),
    Math.max(o.keyspaceInterval ?? KEYSPACE_INTERVAL, interval),
    interval,
  )
  const snapshots = new SnapshotReader(fleet, nodes, members, keyspace, partWithin)
  const sampler = new Sampler(
    async (): Promise<Reading> => {
      // Members too: each sample that sees a member's expiry move dates its last heartbeat.
      const known = keyspace.found()
      const [streams, read] = await Promise.all([
        readStreamCounters(ctx, known),
        nodes.read(),
        members.read(),
      ])
      if (read.length > 0 && read.every((n) => !n.up)) throw new Error('no node answers')
      const sum = (pick: (n: (typeof read)[number]) => number | null) =>
        ctx.topology === 'memory' ? null : read.reduce((total, n) => total + (pick(n) ?? 0), 0)
      return {
        at: Date.now(),
        streams,
        opsPerSec: sum((n) => n.opsPerSec),
        hits: sum((n) => n.hits),
        misses: sum((n) => n.misses),
      }
    },
    interval,
    Math.ceil(HISTORY_MS / interval),
  )

  const app = Fastify({ logger: false, ajv: ACTION_AJV })
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS)
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })
  if (isLoopback(o.host)) app.addHook('onRequest', loopbackHostGuard(o.host))
  if (o.token !== undefined && o.token !== '') app.addHook('onRequest', tokenGuard(o.token))
  await registerAssets(app)
  const page = {
    namespace: fleet.namespace,
    topology: fleet.topology,
    refresh: interval,
    deadline,
    nodes: () => nodes.read(),
  }
  registerViews(app, page, { fleet, ctx, snapshots, allowActions: o.allowActions })
  registerActions(app, fleet, o.allowActions, log)
  app.get('/rates.json', async () => sampler.series())
  app.get('/metrics', async (_request, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8')
    try {
      return renderMetrics(await snapshots.read())
    } catch (error) {
      return renderNodeMetrics(error instanceof SnapshotError ? error.nodes : [])
    }
  })

  // The first pages show the key counts and every stream unless the first walk is slow (a large
  // keyspace): then they show what they can and the rest once it ends.
  keyspace.start()
  await keyspace.first(deadline)
  await app.listen({ host: listenAddress(o.host), port: o.port }).catch(async (error: unknown) => {
    await keyspace.stop()
    throw error
  })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : o.port
  sampler.start()
  return {
    url: urlOf(listenAddress(o.host), port),
    async close() {
      await Promise.all([sampler.stop(), keyspace.stop()])
      await app.close()
    },
  }
}
