/**
 * The dashboard's machine endpoints: /metrics (SPEC §11 gauges, parsed with a Prometheus text
 * parser and checked against Redis), /status.json, token auth, actions refused without
 * allowActions, every topology, and Redis going away.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createRequire } from 'node:module'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { startDashboard } from '../../src/dashboard/server.ts'
import { createFleet, type Fleet, type TopologyKind } from '../../src/index.ts'
import { startRedis } from '../harness/redis-server.ts'
import { TOPOLOGIES, topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

interface Family {
  name: string
  type: string
  metrics: { value: string; labels?: Record<string, string> }[]
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => Family[]

const GAUGES = [
  'redfleet_stream_group_lag',
  'redfleet_stream_group_pending',
  'redfleet_stream_dead_letters',
  'redfleet_tracker_in_flight',
  'redfleet_tracker_orphans',
  'redfleet_members_live',
  'redfleet_keys',
  'redfleet_node_up',
  'redfleet_node_used_memory_bytes',
]

type Dashboard = Awaited<ReturnType<typeof startDashboard>>

async function metrics(d: Dashboard, init?: RequestInit): Promise<Map<string, Family>> {
  const response = await fetch(`${d.url}metrics`, init)
  assert.equal(response.status, 200)
  assert.match(String(response.headers.get('content-type')), /^text\/plain; version=0\.0\.4/)
  return new Map(parsePrometheus(await response.text()).map((f) => [f.name, f]))
}

/** `{labels} → value` of one family, labels as `k=v,k=v`. */
function samples(families: Map<string, Family>, name: string): Record<string, number> {
  const family = families.get(name)
  assert.ok(family, `${name} is missing`)
  assert.equal(family.type, 'GAUGE')
  return Object.fromEntries(
    family.metrics.map((m) => [
      Object.entries(m.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
      Number(m.value),
    ]),
  )
}

/** A promise with its resolver outside. */
function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

const deadLetter = (n: number) => ({
  id: `1-${n}`,
  group: 'billing',
  error: 'declined',
  deliveries: 3,
  envelope: { order: n },
  deadAt: Date.now(),
})

describe('dashboard /metrics and /status.json on a known fleet', () => {
  let fleet: Fleet
  let raw: Redis
  let namespace: string
  let dashboard: Dashboard
  const finish = deferred()
  const running: Promise<unknown>[] = []

  before(async () => {
    const options = await topologyOptions('standalone')
    namespace = uniqueNamespace('metrics')
    fleet = createFleet({ ...options, namespace })
    raw = new Redis(String(options.url))
    const membership = fleet.membership({ ttl: 600_000 })
    await Promise.all(['m-1', 'm-2'].map((id) => membership.heartbeat(id)))
    const live = fleet.tracker({ instanceId: 'live-1', heartbeatTtl: 600_000 })
    await live.start()
    const gone = fleet.tracker({ instanceId: 'gone-1' })
    await gone.start()
    const started = [deferred(), deferred(), deferred()]
    const job = (n: number) => () => {
      started[n]!.resolve()
      return finish.promise
    }
    running.push(live.track('a', {}, job(0)), live.track('b', {}, job(1)), gone.track('c', {}, job(2)))
    await Promise.all(started.map((s) => s.promise))
    await gone.stop()
    const streams = fleet.streams()
    for (let i = 0; i < 3; i++) await streams.publish({ i })
    await streams.ensureGroup('g')
    // One entry delivered and never acked: pending 1, lag still 3.
    await raw.xreadgroup('GROUP', 'g', 'c-1', 'COUNT', 1, 'STREAMS', `${namespace}:streams:events`, '>')
    for (const n of [1, 2]) await streams.publishToChannel('billing:dead', deadLetter(n))
    dashboard = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: false })
  })

  after(async () => {
    await dashboard?.close()
    finish.resolve()
    await Promise.allSettled(running)
    raw?.disconnect()
    await fleet?.close()
  })

  test('carries exactly the SPEC §11 gauges with the values Redis holds', async () => {
    const families = await metrics(dashboard)
    assert.deepEqual([...families.keys()].sort(), [...GAUGES].sort())
    assert.deepEqual(samples(families, 'redfleet_stream_group_lag'), { 'stream=streams:events,group=g': 3 })
    assert.deepEqual(samples(families, 'redfleet_stream_group_pending'), {
      'stream=streams:events,group=g': 1,
    })
    assert.deepEqual(samples(families, 'redfleet_stream_dead_letters'), { 'channel=billing:dead': 2 })
    assert.deepEqual(samples(families, 'redfleet_tracker_in_flight'), { 'instance=live-1': 2 })
    assert.deepEqual(samples(families, 'redfleet_tracker_orphans'), { '': 1 })
    assert.deepEqual(samples(families, 'redfleet_members_live'), { '': 2 })

    const keys: Record<string, number> = {}
    let cursor = '0'
    do {
      const [next, batch] = await raw.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000)
      cursor = next
      for (const key of batch) {
        const primitive = key.slice(namespace.length + 1).split(':')[0]!
        keys[`primitive=${primitive}`] = (keys[`primitive=${primitive}`] ?? 0) + 1
      }
    } while (cursor !== '0')
    assert.deepEqual(samples(families, 'redfleet_keys'), keys)

    const node = `127.0.0.1:${raw.options.port}/0`
    assert.deepEqual(samples(families, 'redfleet_node_up'), { [`node=${node}`]: 1 })
    const memory = samples(families, 'redfleet_node_used_memory_bytes')[`node=${node}`]!
    const used = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))![1])
    assert.ok(memory > 0 && memory < used * 2 && memory > used / 2, `used memory ${memory} vs ${used}`)
  })

  test('/status.json is the same snapshot', async () => {
    const status = await (await fetch(`${dashboard.url}status.json`)).json()
    assert.equal(status.topology, 'standalone')
    assert.equal(status.namespace, namespace)
    assert.deepEqual(
      status.members.map((m: { id: string }) => m.id),
      ['m-1', 'm-2'],
    )
    assert.deepEqual(status.tracker, {
      instances: [{ id: 'live-1', lastSeen: status.tracker.instances[0].lastSeen, inFlight: 2 }],
      inFlight: 2,
      orphans: 1,
    })
    assert.deepEqual(status.deadLetters, [{ channel: 'billing:dead', length: 2 }])
    const events = status.streams.find((s: { name: string }) => s.name === 'streams:events')
    assert.deepEqual(events.groups, [{ name: 'g', pending: 1, lag: 3, consumers: 1 }])
  })

  test('actions answer 403 without allowActions, whatever is sent', async () => {
    for (const [path, body] of [
      ['actions/dead-letters/replay', { channel: 'billing:dead' }],
      ['actions/dead-letters/purge', { channel: 'billing:dead' }],
      ['actions/orphans/release', { instanceId: 'gone-1', id: 'c' }],
      ['actions/dead-letters/purge', { nonsense: true }],
    ] as const) {
      const response = await fetch(`${dashboard.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-redfleet-action': '1' },
        body: JSON.stringify(body),
      })
      assert.equal(response.status, 403, path)
      assert.equal((await response.json()).error.code, 'ERR_ACTIONS_OFF')
    }
    assert.equal(await raw.xlen(`${namespace}:streams:channel:billing:dead`), 2)
    assert.doesNotMatch(
      await (await fetch(`${dashboard.url}dead-letters?channel=billing:dead`)).text(),
      /data-action/,
    )
  })

  test("a page's JSON link is its own figures: a drill-down's view with the same query", async () => {
    const page = await (await fetch(`${dashboard.url}dead-letters?channel=billing:dead`)).text()
    const link = /<a href="([^"]*)">JSON<\/a>/.exec(page)?.[1]
    assert.equal(link, 'dead-letters.json?channel=billing%3Adead')
    const letters = (await (await fetch(`${dashboard.url}${link}`)).json()) as { letters: unknown[] }
    assert.equal(letters.letters.length, 2)
    assert.match(await (await fetch(dashboard.url)).text(), /<a href="status.json">JSON<\/a>/)
  })

  test('on loopback it answers requests for localhost only (DNS rebinding), whatever the path', async () => {
    const port = new URL(dashboard.url).port
    const get = (host: string, path = '/status.json') => getWithHost(dashboard, host, path)
    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      `127.0.0.1.evil.example:${port}`,
      // A loopback name followed by more than a port is not one (helper-270).
      'localhost:evil.example',
      `127.0.0.1:${port}@evil.example`,
      '[::1]evil.example',
      'localhost:80:evil',
    ]) {
      for (const path of ['/status.json', '/', '/metrics']) {
        const refused = await get(host, path)
        assert.equal(refused.status, 403, `${host} ${path}`)
        assert.equal(JSON.parse(refused.body).error.code, 'ERR_HOST_NOT_ALLOWED')
      }
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'LOCALHOST', `[::1]:${port}`]) {
      assert.equal((await get(host)).status, 200, host)
    }
  })

  test('any loopback address is guarded so, and answers its own name too (helper-276)', async () => {
    // 127.0.0.2 is loopback as 127.0.0.1 is: it skipped the Host check, and answered evil.example.
    const other = await startDashboard(fleet, { host: '127.0.0.2', port: 0, allowActions: false })
    try {
      const port = new URL(other.url).port
      assert.equal((await getWithHost(other, `evil.example:${port}`)).status, 403)
      for (const host of [`127.0.0.2:${port}`, `localhost:${port}`]) {
        assert.equal((await getWithHost(other, host)).status, 200, host)
      }
    } finally {
      await other.close()
    }
  })
})

/** A GET of `path` from `dashboard`'s address, naming `host` in its Host header. */
function getWithHost(
  dashboard: Dashboard,
  host: string,
  path = '/status.json',
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(dashboard.url)
  return new Promise((resolve, reject) => {
    request({ host: hostname, port, path, headers: { host } }, (response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => {
        body += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode!, body }))
    })
      .on('error', reject)
      .end()
  })
}

describe('dashboard token and actions', () => {
  const TOKEN = 'ops token-1' // a space in it: the header carries the rest of itself as it is
  let fleet: Fleet
  let dashboard: Dashboard
  const logged: string[] = []
  /** POSTs `body` to the action at `path` as the page does: the token, JSON, the action header. */
  const act = (path: string, body: unknown) =>
    fetch(`${dashboard.url}actions/${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        'x-redfleet-action': '1',
      },
      body: JSON.stringify(body),
    })

  before(async () => {
    fleet = createFleet({ ...(await topologyOptions('standalone')), namespace: uniqueNamespace('auth') })
    // The letters' group: a replay refuses letters of a group the main stream does not have.
    await fleet.streams().ensureGroup('billing')
    await fleet.streams().publishToChannel('billing:dead', deadLetter(1))
    dashboard = await startDashboard(fleet, {
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      allowActions: true,
      log: (line) => logged.push(line),
    })
  })

  after(async () => {
    await dashboard?.close()
    await fleet?.close()
  })

  test('every path needs the token: bearer, ?token= (which sets the cookie) or the cookie', async () => {
    for (const path of [
      '',
      'status.json',
      'metrics',
      'rates.json',
      'static/uPlot.iife.min.js',
      'orphans',
      'x',
    ]) {
      const refused = await fetch(`${dashboard.url}${path}`)
      assert.equal(refused.status, 401, path)
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="redfleet"')
      const wrong = await fetch(`${dashboard.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } })
      assert.equal(wrong.status, 401, path)
    }
    const bearer = await fetch(`${dashboard.url}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(bearer.status, 200)
    // The scheme's name is case-insensitive (RFC 9110 §11.1); some clients send it lower case.
    for (const scheme of ['bearer', 'BEARER', 'Bearer ']) {
      const other = await fetch(`${dashboard.url}metrics`, {
        headers: { authorization: `${scheme} ${TOKEN}` },
      })
      assert.equal(other.status, 200, scheme)
    }
    const spaced = await fetch(`${dashboard.url}metrics`, { headers: { authorization: `Bearer  ${TOKEN}x` } })
    assert.equal(spaced.status, 401)
    const query = await fetch(`${dashboard.url}?token=${TOKEN}`)
    assert.equal(query.status, 200)
    const cookie = String(query.headers.get('set-cookie')).split(';')[0]!
    assert.match(String(query.headers.get('set-cookie')), /HttpOnly; SameSite=Strict/)
    assert.equal((await fetch(`${dashboard.url}status.json`, { headers: { cookie } })).status, 200)
  })

  test('an action needs its header, then runs and is logged', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${dashboard.url}actions/dead-letters/purge`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ channel: 'billing:dead' }),
      })
    const headerless = await post({})
    assert.equal(headerless.status, 403)
    assert.equal((await headerless.json()).error.code, 'ERR_ACTION_HEADER')
    assert.deepEqual(logged, [])
    const done = await post({ 'x-redfleet-action': '1' })
    assert.equal(done.status, 200)
    assert.equal((await done.json()).count, 1)
    assert.equal(logged.length, 1)
    assert.match(logged[0]!, /purged 1 dead letter\(s\) of 'billing:dead' \(all\)/)
    // Again: nothing left, which the answer says (a stale page, a mistyped channel).
    const again = await (await post({ 'x-redfleet-action': '1' })).json()
    assert.equal(again.count, 0)
    assert.match(again.message, /it holds no dead letters \(check the channel and the namespace\)/)
  })

  test('an action on letters handled meanwhile says how many of the ids it did not find', async () => {
    await fleet.streams().publishToChannel('stale:dead', deadLetter(7))
    const [letter] = await fleet.streams().readRange('stale:dead', undefined, 1)
    const replay = () =>
      act('dead-letters/replay', { channel: 'stale:dead', ids: [letter!.id, '1-0', letter!.id, '1'] }).then(
        (r) => r.json(),
      )
    const first = await replay()
    assert.equal(first.count, 1)
    assert.match(
      first.message,
      /replayed 1 dead letter\(s\) .*; 1 of the 2 ids given are not among its dead letters$/,
    )
    const second = await replay()
    assert.equal(second.count, 0)
    assert.match(second.message, /; 2 of the 2 ids given are not among its dead letters$/)
  })

  test('an action body with an unknown field is a 400 naming it, and nothing is done', async () => {
    for (const n of [2, 3, 4]) await fleet.streams().publishToChannel('typo:dead', deadLetter(n))
    const [first] = await fleet.streams().readRange('typo:dead', undefined, 1)
    const loggedBefore = logged.length
    for (const [path, body, field, hint] of [
      ['dead-letters/purge', { channel: 'typo:dead', idz: [first!.id] }, 'idz', /did you mean "ids"\?/],
      ['dead-letters/replay', { channel: 'typo:dead', idz: [first!.id] }, 'idz', /did you mean "ids"\?/],
      ['dead-letters/purge', { channel: 'typo:dead', all: true }, 'all', /known: channel, ids/],
      [
        'orphans/release',
        { instanceId: 'gone-x', id: 'r-x', extra: 1 },
        'extra',
        /known: instanceId, id, startedAt/,
      ],
    ] as const) {
      const response = await act(path, body)
      assert.equal(response.status, 400, path)
      const { error } = await response.json()
      assert.equal(error.code, 'ERR_INVALID_ARGUMENT', path)
      assert.match(error.message, new RegExp(`unknown field "${field}"`), path)
      assert.match(error.message, hint, path)
    }
    assert.equal((await fleet.streams().readRange('typo:dead', undefined, 10)).length, 3)
    assert.equal(logged.length, loggedBefore)
  })

  test('an action body field of another type is a 400, not turned into a string (helper-270)', async () => {
    for (const n of [5, 6]) await fleet.streams().publishToChannel('5', deadLetter(n))
    for (const [path, body] of [
      ['dead-letters/purge', { channel: 5 }],
      ['dead-letters/replay', { channel: 5 }],
      ['orphans/release', { instanceId: 'gone-x', id: 'r-x', startedAt: '12' }],
    ] as const) {
      const response = await act(path, body)
      assert.equal(response.status, 400, path)
      assert.equal((await response.json()).error.code, 'ERR_INVALID_ARGUMENT', path)
    }
    assert.equal((await fleet.streams().readRange('5', undefined, 10)).length, 2)
  })

  test('an action given an id that is no stream entry id is a 400, as the command refuses it', async () => {
    for (const action of ['purge', 'replay']) {
      const response = await act(`dead-letters/${action}`, { channel: 'typo:dead', ids: ['foo'] })
      assert.equal(response.status, 400, action)
      const { error } = await response.json()
      assert.equal(error.code, 'ERR_INVALID_ARGUMENT', action)
      assert.match(error.message, /"foo" is not a stream entry id/, action)
    }
  })

  test('releasing an orphan its instance id left in two lives releases the one asked for (by startedAt), once', async () => {
    const lives: { started: Promise<void>; finish: () => void; job: Promise<unknown> }[] = []
    for (let life = 0; life < 2; life++) {
      const gone = fleet.tracker({ instanceId: 'gone-3' })
      await gone.start()
      const started = deferred()
      const finish = deferred()
      const job = gone.track('r-2', { life }, () => {
        started.resolve()
        return finish.promise
      })
      await started.promise
      await gone.stop()
      lives.push({ started: started.promise, finish: finish.resolve, job })
    }
    try {
      const twins = (await fleet.tracker().orphans()).filter((o) => o.instanceId === 'gone-3')
      assert.deepEqual(twins.map((o) => o.payload).sort(), [{ life: 0 }, { life: 1 }].sort())
      const [asked, other] = twins
      const done = await act('orphans/release', {
        instanceId: 'gone-3',
        id: 'r-2',
        startedAt: asked!.startedAt,
      })
      assert.equal(done.status, 200)
      assert.equal((await done.json()).count, 1)
      const left = (await fleet.tracker().orphans()).filter((o) => o.instanceId === 'gone-3')
      assert.deepEqual(left, [other])
      // The page's button names the life it releases.
      const page = await (
        await fetch(`${dashboard.url}orphans`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).text()
      assert.ok(
        page.includes(`&quot;startedAt&quot;:${other!.startedAt}`),
        'the Release button carries startedAt',
      )
      await fleet.tracker().recoverOrphans(() => {})
    } finally {
      for (const life of lives) life.finish()
      await Promise.all(lives.map((life) => life.job))
    }
  })

  test('releasing an orphan through the action forgets it, once', async () => {
    const gone = fleet.tracker({ instanceId: 'gone-2' })
    await gone.start()
    const started = deferred()
    const finish = deferred()
    const job = gone.track('r-1', { n: 1 }, () => {
      started.resolve()
      return finish.promise
    })
    await started.promise
    await gone.stop()
    const release = () => act('orphans/release', { instanceId: 'gone-2', id: 'r-1' })
    try {
      const orphans = await fetch(`${dashboard.url}orphans.json`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      assert.deepEqual(
        (await orphans.json()).map((o: { id: string }) => o.id),
        ['r-1'],
      )
      const done = await release()
      assert.equal(done.status, 200)
      assert.equal((await done.json()).count, 1)
      assert.deepEqual(await fleet.tracker().orphans(), [])
      assert.equal((await (await release()).json()).count, 0)
      assert.match(logged.at(-2)!, /released orphan 'r-1' of instance 'gone-2'/)
    } finally {
      finish.resolve()
      await job
    }
  })

  test('the orphans and tracker pages show 100 jobs a page, oldest first, with a link to the next', async () => {
    const gone = fleet.tracker({ instanceId: 'gone-many' })
    await gone.start()
    const finish = deferred()
    const jobs = Array.from({ length: 150 }, (_, i) =>
      gone.track(`m-${String(i).padStart(3, '0')}`, { n: i }, () => finish.promise),
    )
    await gone.stop()
    const get = (path: string) =>
      fetch(`${dashboard.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const rows = (page: string) => [...page.matchAll(/<tr data-job="([^"]+)"/g)].map((m) => m[1])
    try {
      const expected = {
        orphans: (await fleet.tracker().orphans()).map((j) => j.id),
        'tracker?instance=gone-many': (await fleet.tracker().inFlight('gone-many')).map((j) => j.id),
      }
      for (const [path, all] of Object.entries(expected)) {
        assert.ok(all.length >= 150, path)
        const first = await (await get(path)).text()
        assert.deepEqual(rows(first), all.slice(0, 100), path)
        assert.match(first, new RegExp(`${all.length} (orphan|job)\\(s\\)`), path)
        assert.match(first, /Rows 1–100 shown, oldest first/, path)
        const next = first.match(/<p class="pager"><a href="([^"]+)">/)?.[1]?.replaceAll('&amp;', '&')
        assert.ok(next?.includes('from=100'), `${path}: ${next}`)
        const second = await (await get(next!)).text()
        assert.deepEqual(rows(second), all.slice(100, 200), path)
        assert.equal(second.includes('class="pager"'), all.length > 200, path)
        const sep = path.includes('?') ? '&' : '?'
        // Row numbers only (helper-308: Number() took ' ', '0x10' and '1e2').
        for (const from of ['-1', '%20', '0x10', '1e2', '', 'abc']) {
          assert.equal((await get(`${path}${sep}from=${from}`)).status, 400, `${path} from=${from}`)
        }
        // Past the end (the jobs recovered while a later page stays open): it says so, with the way back.
        const past = await (await get(`${path}${sep}from=${all.length + 50}`)).text()
        assert.deepEqual(rows(past), [], path)
        const back = past.match(
          new RegExp(`The list ends before row ${all.length + 51}\\. <a href="([^"]+)">First page</a>`),
        )
        assert.ok(back, path)
        assert.doesNotMatch(past, /no orphan|no job in flight|Rows \d+–\d+ shown/, path)
        assert.deepEqual(
          rows(await (await get(back[1]!.replaceAll('&amp;', '&'))).text()),
          all.slice(0, 100),
          path,
        )
      }
      // The JSON has every job.
      assert.equal((await (await get('orphans.json')).json()).length, expected.orphans.length)
      const detail = await (await get('tracker.json?instance=gone-many')).json()
      assert.equal(detail.jobs.length, 150)
    } finally {
      finish.resolve()
      await Promise.all(jobs)
      await fleet.tracker().recoverOrphans(() => {})
    }
  })
})

describe('dashboard on every topology', () => {
  for (const topology of TOPOLOGIES) {
    test(`${topology}: status.json, metrics and pages`, async () => {
      const fleet = createFleet({
        ...(await topologyOptions(topology as TopologyKind)),
        namespace: uniqueNamespace(),
      })
      const dashboard = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: false })
      try {
        await fleet.membership().heartbeat('solo')
        await fleet.streams().publish({ hello: topology })
        await fleet.streams().ensureGroup('g')
        const status = await (await fetch(`${dashboard.url}status.json`)).json()
        assert.equal(status.topology, topology)
        const families = await metrics(dashboard)
        assert.deepEqual(samples(families, 'redfleet_members_live'), { '': 1 })
        assert.deepEqual(samples(families, 'redfleet_stream_group_lag'), {
          'stream=streams:events,group=g': 1,
        })
        const up = samples(families, 'redfleet_node_up')
        const expected = topology === 'memory' ? 1 : topology === 'standalone' ? 1 : 3
        assert.equal(Object.keys(up).length, expected)
        assert.ok(Object.values(up).every((v) => v === 1))
        if (topology === 'memory') assert.deepEqual(up, { 'node=memory': 1 })
        for (const path of [
          '',
          'orphans',
          'stream?name=streams:events',
          'group?stream=streams:events&group=g',
        ]) {
          assert.equal((await fetch(`${dashboard.url}${path}`)).status, 200, path)
        }
      } finally {
        await dashboard.close()
        await fleet.close()
      }
    })
  }
})

describe('dashboard with Redis gone', () => {
  test('status.json answers 503 with the error shape; /metrics says the node is down', async () => {
    const server = await startRedis()
    const fleet = createFleet({ url: server.url, namespace: uniqueNamespace() })
    const dashboard = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: false })
    try {
      await fleet.membership({ ttl: 600_000 }).heartbeat('member-seen-before')
      assert.equal((await fetch(`${dashboard.url}status.json`)).status, 200)
      const overview = await fetch(dashboard.url)
      assert.equal(overview.status, 200)
      assert.match(await overview.text(), /member-seen-before/)
      await server.stop()
      // A reload shows what the page last showed, greyed out under the banner, as an open page does.
      const reloaded = await fetch(dashboard.url)
      assert.equal(reloaded.status, 503)
      const stale = await reloaded.text()
      assert.match(stale, /Redis is unreachable: .*The figures below are stale/)
      assert.match(stale, /<div id="content" class="stale">[\s\S]*member-seen-before/)
      assert.match(stale, /<title>Fleet overview · redfleet<\/title>/)
      const never = await (await fetch(`${dashboard.url}orphans`)).text()
      assert.match(never, /Nothing could be read yet/)
      const failed = await fetch(`${dashboard.url}status.json`)
      assert.equal(failed.status, 503)
      const shape = await failed.json()
      assert.equal(shape.error.unreachable, true)
      assert.equal(typeof shape.error.message, 'string')
      const fragment = await fetch(`${dashboard.url}?fragment=1`)
      assert.equal(fragment.status, 503)
      const families = await metrics(dashboard)
      assert.deepEqual(samples(families, 'redfleet_node_up'), { [`node=127.0.0.1:${server.port}/0`]: 0 })
      assert.equal(families.has('redfleet_members_live'), false)
    } finally {
      await dashboard.close()
      await fleet.close()
      await server.stop()
    }
  })

  test('a port that is taken makes startDashboard reject', async () => {
    const fleet = createFleet({ namespace: uniqueNamespace() })
    const first = await startDashboard(fleet, { host: '127.0.0.1', port: 0, allowActions: false })
    try {
      const port = Number(new URL(first.url).port)
      await assert.rejects(
        startDashboard(fleet, { host: '127.0.0.1', port, allowActions: false }),
        /EADDRINUSE/,
      )
    } finally {
      await first.close()
      await fleet.close()
    }
  })
})
