import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { partDeadline, withDeadline } from './deadline.ts'
import { type Html, html } from './html.ts'
import { layout, type Shell } from './layout.ts'
import type { NodeStatus } from './nodes.ts'
import { failureOf, SnapshotError } from './snapshot.ts'

/** A page's query parameters (all strings; fastify leaves repeated ones as arrays, refused here). */
export type Query = Record<string, string | undefined>

/** A bad query: 400 with the reason. */
export class BadQuery extends Error {}

/** One page of the dashboard and its JSON twin: how to read its data and how to show it. */
export interface View<T> {
  /** `/tracker` serves the page; `/tracker.json` the data (the overview's twin is `/status.json`). */
  path: string
  json: string
  /** Query parameters that must be present. */
  required?: string[]
  load(q: Query): Promise<T>
  title(data: T, q: Query): string
  content(data: T, q: Query): Html
  section?: Shell['section']
  trail?(q: Query): [string, string][]
  /** Markup above the refreshed content (the overview's charts). */
  fixed?: Html
}

/** What every page knows about the dashboard it belongs to. */
export interface PageContext {
  namespace: string
  topology: string
  refresh: number
  deadline: number
  /** Each node's state (INFO within a part deadline), read when a page could not be. */
  nodes(): Promise<NodeStatus[]>
}

function queryOf(request: FastifyRequest, required: string[]): Query {
  const raw = (request.query ?? {}) as Record<string, unknown>
  const q: Query = {}
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw new BadQuery(`query parameter ${name} must be given once`)
    q[name] = value
  }
  for (const name of required) if (!q[name]) throw new BadQuery(`query parameter ${name} is required`)
  return q
}

/** Pages of one view kept for when the fleet cannot be read (one per query, the latest few). */
const KEPT_PAGES = 50

/** A page as last served: what a reload shows, greyed out, while the fleet cannot be read. */
interface KeptPage {
  title: string
  trail: [string, string][] | undefined
  content: Html
  at: number
}

/**
 * Registers a view: the full page, the same page's content alone (`?fragment=1`, what the page
 * script refreshes with), and the JSON. When the fleet cannot be read the JSON and the fragment
 * answer 503 with the error shape; the full page is served (503) with the failure in its banner,
 * over the figures it last showed for that query, greyed out, as an open page keeps them.
 */
export function registerView<T>(app: FastifyInstance, page: PageContext, view: View<T>): void {
  const kept = new Map<string, KeptPage>()
  const keep = (query: string, served: KeptPage) => {
    kept.delete(query)
    kept.set(query, served)
    if (kept.size > KEPT_PAGES) kept.delete(kept.keys().next().value!)
  }
  const load = async (request: FastifyRequest) => {
    const q = queryOf(request, view.required ?? [])
    // Which node fails a read that outlasts its deadline (a frozen one of a ring is waited out,
    // and the deadline names none) is asked early enough for the nodes' own read, bounded by a
    // part deadline, to be done by then: the 503 comes at the deadline, not a node read later.
    let naming: Promise<NodeStatus[]> | undefined
    const asking = setTimeout(() => {
      naming = page.nodes()
    }, page.deadline - partDeadline(page.deadline))
    try {
      return { q, data: await withDeadline(view.load(q), page.deadline, `reading ${view.path}`) }
    } catch (error) {
      // A snapshot's failure carries the nodes read with it already.
      if (error instanceof BadQuery || error instanceof SnapshotError) throw error
      throw new SnapshotError(error, await (naming ?? page.nodes()))
    } finally {
      clearTimeout(asking)
    }
  }
  const fail = (reply: FastifyReply, error: unknown) =>
    error instanceof BadQuery
      ? reply.code(400).send({ error: { code: 'ERR_BAD_QUERY', message: error.message } })
      : reply.code(503).send(failureOf(error))

  app.get(view.json, async (request, reply) => {
    try {
      return reply.send((await load(request)).data)
    } catch (error) {
      return fail(reply, error)
    }
  })

  app.get(view.path, async (request, reply) => {
    const fragment = (request.query as Query).fragment !== undefined
    // The page's own query (a token is not part of what it shows).
    const { token: _, fragment: __, ...shown } = request.query as Query
    const query = new URLSearchParams(shown as Record<string, string>).toString()
    const shell = {
      namespace: page.namespace,
      topology: page.topology,
      refresh: page.refresh,
      section: view.section ?? 'drill-down',
      fixed: view.fixed,
      json: `${view.json.slice(1)}${query ? `?${query}` : ''}`,
    }
    try {
      const { q, data } = await load(request)
      const served = {
        title: view.title(data, q),
        trail: view.trail?.(q),
        content: view.content(data, q),
        at: Date.now(),
      }
      keep(query, served)
      reply.type('text/html; charset=utf-8')
      if (fragment) return reply.send(served.content.text)
      return reply.send(layout({ ...shell, ...served }).text)
    } catch (error) {
      if (fragment || error instanceof BadQuery) return fail(reply, error)
      const failure = failureOf(error).error
      const last = kept.get(query) ?? {
        title: 'Not read yet',
        trail: undefined,
        content: html`<p class="note">Nothing could be read yet.</p>`,
        at: Date.now(),
      }
      reply.code(503).type('text/html; charset=utf-8')
      return reply.send(layout({ ...shell, ...last, failure }).text)
    }
  })
}
