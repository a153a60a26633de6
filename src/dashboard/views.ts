import type { FastifyInstance } from 'fastify'
import { readDeadLetters } from '../admin/dead-letters.ts'
import { streamLength } from '../admin/keys.ts'
import { listOrphans, operatorTracker } from '../admin/orphans.ts'
import type { FleetContext } from '../context.ts'
import type { Fleet } from '../fleet.ts'
import { parseId } from '../streams/ids.ts'
import { groupDetail, PENDING_PAGE } from './group.ts'
import { href } from './html.ts'
import { type DeadLetterPage, deadLettersContent } from './pages/dead-letters.ts'
import {
  type InstanceDetail,
  instanceContent,
  type JobsShown,
  jobsPage,
  orphansContent,
} from './pages/jobs.ts'
import { charts, overviewContent } from './pages/overview.ts'
import { groupContent, streamContent } from './pages/streams.ts'
import type { SnapshotReader } from './snapshot.ts'
import { BadQuery, type PageContext, type Query, registerView, type View } from './view.ts'

/** Dead letters listed per page. */
const LETTERS_PAGE = 100

/** A page cursor from the query: a stream id, or a 400. */
function afterId(q: Query): string | undefined {
  if (q.after === undefined) return undefined
  if (!parseId(q.after)) throw new BadQuery('query parameter after must be a stream id')
  return q.after
}

/** The row a page of jobs starts at (`from`, 0 first), and the link to the page after it. */
function jobsShown(q: Query, jobs: readonly unknown[], path: string): JobsShown {
  // Digits only: Number() would take ' ', '0x10' and '1e2' too.
  if (q.from !== undefined && !/^\d{1,15}$/.test(q.from)) {
    throw new BadQuery('query parameter from must be a row number, 0 or more')
  }
  const from = Number(q.from ?? 0)
  const { next } = jobsPage(jobs, from)
  const { fragment: _, token: __, from: ___, ...kept } = q
  return {
    from,
    next: next === undefined ? undefined : href(path, { ...kept, from: String(next) }),
    first: from === 0 ? undefined : href(path, kept),
  }
}

export interface ViewSources {
  fleet: Fleet
  ctx: FleetContext
  snapshots: SnapshotReader
  allowActions: boolean
}

/** Registers every page of the dashboard with its JSON twin. */
export function registerViews(app: FastifyInstance, page: PageContext, s: ViewSources): void {
  const add = <T>(view: View<T>) => registerView(app, page, view)

  add({
    path: '/',
    json: '/status.json',
    section: 'overview',
    fixed: charts(s.fleet.topology),
    load: () => s.snapshots.read(),
    title: () => 'Fleet overview',
    content: (snapshot) => overviewContent(snapshot),
  })

  add<InstanceDetail>({
    path: '/tracker',
    json: '/tracker.json',
    required: ['instance'],
    async load(q) {
      const tracker = operatorTracker(s.fleet)
      const [jobs, live] = await Promise.all([tracker.inFlight(q.instance!), tracker.instances()])
      const lastSeen = live.find((i) => i.id === q.instance)?.lastSeen ?? null
      return { instance: q.instance!, lastSeen, jobs, at: Date.now() }
    },
    title: (d) => `Tracker instance ${d.instance}`,
    trail: (q) => [[`instance ${q.instance}`, '']],
    content: (d, q) => instanceContent(d, jobsShown(q, d.jobs, 'tracker')),
  })

  add({
    path: '/orphans',
    json: '/orphans.json',
    section: 'orphans',
    load: () => listOrphans(s.fleet),
    title: () => 'Orphans',
    content: (jobs, q) => orphansContent(jobs, Date.now(), s.allowActions, jobsShown(q, jobs, 'orphans')),
  })

  add({
    path: '/stream',
    json: '/stream.json',
    required: ['name'],
    load: async (q) => (await s.snapshots.read()).streams.find((st) => st.name === q.name) ?? null,
    title: (_, q) => `Stream ${q.name}`,
    trail: (q) => [[`stream ${q.name}`, '']],
    content: (stream, q) => streamContent(stream ?? undefined, q.name!),
  })

  add({
    path: '/group',
    json: '/group.json',
    required: ['stream', 'group'],
    load: (q) =>
      groupDetail(s.ctx, { stream: q.stream!, group: q.group!, consumer: q.consumer, after: afterId(q) }),
    title: (_, q) => `Group ${q.group}`,
    trail: (q) => [
      [`stream ${q.stream}`, href('stream', { name: q.stream })],
      [`group ${q.group}`, ''],
    ],
    content: (d, q) => {
      const last = d.pending.length === PENDING_PAGE ? d.pending[d.pending.length - 1]!.id : undefined
      const next =
        last && href('group', { stream: q.stream, group: q.group, consumer: q.consumer, after: last })
      return groupContent(d, q.consumer, next)
    },
  })

  add<DeadLetterPage>({
    path: '/dead-letters',
    json: '/dead-letters.json',
    required: ['channel'],
    async load(q) {
      const channel = q.channel!
      const [{ letters, skipped }, length] = await Promise.all([
        readDeadLetters(s.fleet, channel, { limit: LETTERS_PAGE, afterId: afterId(q) }),
        streamLength(s.ctx, s.ctx.keys.key('streams', 'channel', channel)),
      ])
      return { channel, length, letters, skipped, at: Date.now() }
    },
    title: (p) => `Dead letters of ${p.channel}`,
    trail: (q) => [[`dead letters ${q.channel}`, '']],
    content: (p, q) => {
      const last = p.letters.length === LETTERS_PAGE ? p.letters[p.letters.length - 1]!.id : undefined
      return deadLettersContent(
        p,
        s.allowActions,
        last && href('dead-letters', { channel: q.channel, after: last }),
      )
    },
  })
}
