/**
 * The fault harness: Redis deployments a test can break on purpose, and the faults to break them
 * with. Nothing here is shared between test files: each fault test file starts what it needs in
 * a `before` hook and stops it in `after`, so a SIGKILL in one file never disturbs another.
 *
 *   const { cluster, fleets } = fileFaultCluster()   // cluster(): the FaultCluster, in tests
 *
 * Deployments (every process on free loopback ports, each in its own temporary directory):
 * - `startFaultCluster()`: 3 masters + 3 replicas, `cluster-node-timeout` 1500 ms so a killed
 *   master is failed over in a few seconds. `urls` are the seeds for `createFleet`.
 *   Faults: `kill(node)` (SIGKILL, a crash), `restart(node)` (same port and nodes.conf: it
 *   rejoins, as a replica of whoever took its slots), `failover(replica)` (`CLUSTER FAILOVER`,
 *   e.g. a failback), `moveSlot(slot, master)` (SETSLOT IMPORTING/MIGRATING + MIGRATE +
 *   SETSLOT NODE on every master). Queries: `masterOf(key)`, `replicaOf(master)`, `waitUntilOk()`.
 * - `startPrimaryReplica()`: a primary and its replica. `swap()` promotes the replica and demotes
 *   the primary to its replica (`REPLICAOF`); `swapBack()` restores the original roles.
 * - `startBlackHole()`: a TCP server that accepts connections and never answers.
 *
 * - `downAnnouncements()`: a fleet's `onError` that keeps its announcements of nodes going down.
 * - `moveEmptySlotOf(key, urls)`: moves the empty slot of `key` on a cluster without replicas
 *   (`startCluster()`) to the next master, until every master agrees. `inEmptySlot(urls, full)`
 *   picks a name whose key `full(name)` is in a slot holding no key, so that it can be moved.
 *
 * Faults on any server: `replicaOf(server, master | undefined)` (`REPLICAOF host port` /
 * `REPLICAOF NO ONE`), `clientPause(server, ms)` (`CLIENT PAUSE ms ALL`), `waitForRole`.
 * `RedisServer.kill()` / `restart()` (redis-server.ts) crash and restart a standalone server.
 *
 * Every wait polls the servers' own view (INFO, CLUSTER NODES) every POLL ms until it holds, and
 * fails with what it last saw after a bound derived from the node timeout, never a fixed sleep.
 */
import { execFile } from 'node:child_process'
import { connect, createServer, type Socket } from 'node:net'
import calculateSlot from 'cluster-key-slot'
import { Redis } from 'ioredis'
import type { Fleet } from '../../src/index.ts'
import { fileServers } from './file-servers.ts'
import { type RedisServer, startRedis } from './redis-server.ts'

/** How often a wait looks again. */
const POLL = 50

/** cluster-node-timeout of a fault cluster, in ms: a dead master is failed over a few seconds later. */
export const NODE_TIMEOUT = 1500

/**
 * How long a topology change may take to settle: a failover needs node-timeout to suspect the
 * master, a gossip round to agree, up to ~1 s of election delay, then the vote; generous for a
 * loaded 2-core machine.
 */
export const SETTLE_BOUND = 20 * NODE_TIMEOUT

type Arg = string | number

/** How long Redis lets a manual failover (CLUSTER FAILOVER) run before it gives up on it. */
const MANUAL_FAILOVER_TIMEOUT = 5000

/** A replica's full sync starts at once (Redis waits 5 s by default for more replicas to join). */
const NO_SYNC_DELAY = ['--repl-diskless-sync-delay', '0']

/** Sends one command on a fresh connection to `port` (a node may have been restarted since). */
export async function command(port: number, ...args: Arg[]): Promise<unknown> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  client.on('error', () => {})
  try {
    return await client.call(String(args[0]), ...args.slice(1))
  } finally {
    client.disconnect()
  }
}

/** One INFO section as a map (`role`, `master_link_status`...); section 'cluster' is CLUSTER INFO. */
export async function info(port: number, section = 'replication'): Promise<Map<string, string>> {
  const reply = section === 'cluster' ? command(port, 'CLUSTER', 'INFO') : command(port, 'INFO', section)
  const text = String(await reply)
  const fields = new Map<string, string>()
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':')
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1))
  }
  return fields
}

/**
 * Polls `probe` until it returns something other than undefined/false, at most `bound` ms.
 * A probe that throws (the node is down) counts as "not yet". Fails naming `what` and the last
 * observation.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  bound = SETTLE_BOUND,
): Promise<T> {
  const deadline = Date.now() + bound
  let last: unknown = 'nothing yet'
  for (;;) {
    try {
      const seen = await probe()
      if (seen !== undefined && seen !== false) return seen
      last = seen
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${bound} ms; last seen: ${String(last)}`)
    await new Promise((resolve) => setTimeout(resolve, POLL))
  }
}

/** The names among `names` whose Redis key (`keyOf`) the server at `url` holds: where a ring put them. */
export async function heldBy(url: string, names: readonly string[], keyOf: (name: string) => string) {
  const raw = new Redis(url)
  try {
    const held = await Promise.all(names.map((name) => raw.exists(keyOf(name))))
    return names.filter((_, i) => held[i] === 1)
  } finally {
    raw.disconnect()
  }
}

/** Which of `ports` serves `key` (answers it, not MOVED), and what the others answer. */
async function servingOf(key: string, ports: number[]): Promise<{ owner: number; answers: string[] }> {
  const answers = await Promise.all(
    ports.map((port) =>
      command(port, 'EXISTS', key).then(
        () => 'serves',
        (error: unknown) => String(error),
      ),
    ),
  )
  return { owner: answers.indexOf('serves'), answers }
}

/**
 * A name (`moved0`, `moved1`, …) whose Redis key `full(name)` is in a slot none of `avoid`'s keys
 * is in and no key of the cluster is in: a slot with keys cannot be moved by SETSLOT NODE, and a
 * slot picked by a test's own names alone held an earlier test's key about once in a hundred runs.
 */
export async function inEmptySlot(
  urls: string[],
  full: (name: string) => string,
  avoid: readonly string[] = [],
): Promise<string> {
  const used = new Set(avoid.map((name) => calculateSlot(full(name))))
  const ports = urls.map((url) => Number(new URL(url).port))
  for (let i = 0; ; i++) {
    const slot = calculateSlot(full(`moved${i}`))
    if (used.has(slot)) continue
    const counts = await Promise.all(ports.map((port) => command(port, 'CLUSTER', 'COUNTKEYSINSLOT', slot)))
    if (counts.every((count) => Number(count) === 0)) return `moved${i}`
  }
}

/**
 * Moves the (empty) slot of `key` on a cluster without replicas to the master after its owner:
 * SETSLOT NODE on the new owner first, then on the others, sent again until every master, seen
 * twice in a row, agrees. A heartbeat the old owner sent just before its SETSLOT can hand the
 * slot back to it on a node of a lower config epoch (about one move in 1,500 here), leaving two
 * masters that redirect to each other for good.
 */
export async function moveEmptySlotOf(key: string, urls: string[]): Promise<{ from: string; to: string }> {
  const ports = urls.map((url) => Number(new URL(url).port))
  const { owner } = await waitUntil(`one master to serve ${key}`, async () => {
    const seen = await servingOf(key, ports)
    return seen.owner >= 0 && seen
  })
  const target = (owner + 1) % ports.length
  const targetId = String(await command(ports[target]!, 'CLUSTER', 'MYID'))
  const slot = calculateSlot(key)
  const order = [target, ...ports.keys()].filter((i, at, all) => all.indexOf(i) === at)
  let agreed = 0
  await waitUntil(`every master to agree that ${ports[target]} serves slot ${slot}`, async () => {
    const { owner: now, answers } = await servingOf(key, ports)
    const movedThere = answers.every((answer, i) => i === target || answer.endsWith(`:${ports[target]}`))
    agreed = now === target && movedThere ? agreed + 1 : 0
    if (agreed === 0) {
      for (const i of order) await command(ports[i]!, 'CLUSTER', 'SETSLOT', slot, 'NODE', targetId)
    }
    return agreed >= 2
  })
  return { from: urls[owner]!, to: urls[target]! }
}

/**
 * A fleet's `onError` that keeps its announcements of nodes going down (op `connection …`) and
 * ignores the rest; `down` settles at the first one.
 */
export function downAnnouncements(): {
  readonly announced: unknown[]
  readonly down: Promise<void>
  onError(error: unknown, context: { op: string }): void
} {
  const announced: unknown[] = []
  let wentDown: () => void = () => {}
  const down = new Promise<void>((resolve) => {
    wentDown = resolve
  })
  return {
    announced,
    down,
    onError: (error, { op }) => {
      if (!op.startsWith('connection ')) return
      announced.push(error)
      wentDown()
    },
  }
}

export type Role = 'master' | 'replica'

/** The replication role a server reports, with a replica counted only once its link is up. */
async function roleOf(port: number): Promise<Role | 'syncing'> {
  const replication = await info(port)
  if (replication.get('role') === 'master') return 'master'
  return replication.get('master_link_status') === 'up' ? 'replica' : 'syncing'
}

/** Waits until the server says it is `role` (a replica: and in sync with its master). */
export async function waitForRole(server: { port: number }, role: Role, bound = SETTLE_BOUND): Promise<void> {
  await waitUntil(`${server.port} to become ${role}`, async () => (await roleOf(server.port)) === role, bound)
}

/** `REPLICAOF host port`, or `REPLICAOF NO ONE` without a master; does not wait. */
export async function replicaOf(
  server: { port: number },
  master: { port: number } | undefined,
): Promise<void> {
  if (master) await command(server.port, 'REPLICAOF', '127.0.0.1', master.port)
  else await command(server.port, 'REPLICAOF', 'NO', 'ONE')
}

/** `CLIENT PAUSE ms ALL`: the server holds every client's commands for `ms` (answers this one). */
export async function clientPause(server: { port: number }, ms: number): Promise<void> {
  await command(server.port, 'CLIENT', 'PAUSE', ms, 'ALL')
}

// --- primary / replica pair ----------------------------------------------------------------------

export interface FaultPair {
  /** Master at the start; a fleet under test connects to its url. */
  readonly primary: RedisServer
  readonly replica: RedisServer
  /**
   * Demotes the primary: waits until the replica has every write, promotes it, and makes the
   * primary its replica. Returns once the primary is a replica in sync.
   */
  swap(): Promise<void>
  /** The reverse of `swap`: the primary is master again and the replica follows it. */
  swapBack(): Promise<void>
  stop(): Promise<void>
}

async function handOver(from: RedisServer, to: RedisServer): Promise<void> {
  // Every write `from` accepted reaches `to` before `to` stops following it.
  await command(from.port, 'WAIT', 1, SETTLE_BOUND)
  await replicaOf(to, undefined)
  await replicaOf(from, to)
  await waitForRole(to, 'master')
  await waitForRole(from, 'replica')
}

/** A primary and a replica of it, the replica in sync when this resolves. */
export async function startPrimaryReplica(options: { extra?: string[] } = {}): Promise<FaultPair> {
  const start = () => startRedis({ extra: [...NO_SYNC_DELAY, ...(options.extra ?? [])] })
  const [primary, replica] = await Promise.all([start(), start()])
  const stop = async () => {
    await Promise.all([primary.stop(), replica.stop()])
  }
  try {
    await replicaOf(replica, primary)
    await waitForRole(replica, 'replica')
  } catch (error) {
    await stop()
    throw error
  }
  return {
    primary,
    replica,
    swap: () => handOver(primary, replica),
    swapBack: () => handOver(replica, primary),
    stop,
  }
}

/**
 * A primary/replica pair of the test file's own, started before its tests, and the fleets its
 * tests open: they are closed after the tests, then the pair is stopped (as fileCluster).
 */
export function filePrimaryReplica(): { pair: () => FaultPair; fleets: Fleet[] } {
  const { servers, fleets } = fileServers('pair', () => startPrimaryReplica())
  return { pair: servers, fleets }
}

// --- cluster -------------------------------------------------------------------------------------

/** One node of a fault cluster: a redis-server plus its cluster identity. */
export interface ClusterNode extends RedisServer {
  /** CLUSTER MYID: kept across restarts (nodes.conf). */
  readonly id: string
  /** Killed and not restarted yet. */
  readonly down: boolean
}

export interface FaultCluster {
  readonly nodes: readonly ClusterNode[]
  /** Seeds for `createFleet({ url, cluster: true })`: every node. */
  readonly urls: string[]
  /** The node serving `key`'s slot now, as the live nodes agree. */
  masterOf(key: string): Promise<ClusterNode>
  /** A replica of `master` (in sync). */
  replicaOf(master: ClusterNode): Promise<ClusterNode>
  /** SIGKILL; the cluster fails its slots over to a replica once node-timeout passes. */
  kill(node: ClusterNode): Promise<void>
  /** Kills `master` and waits until a replica has taken its slots and the cluster is ok. */
  killAndFailover(master: ClusterNode): Promise<ClusterNode>
  /** Starts a killed node again (same port, same nodes.conf) and waits until it has rejoined. */
  restart(node: ClusterNode): Promise<void>
  /** `CLUSTER FAILOVER` on a replica; resolves once it is master and the cluster agrees. */
  failover(replica: ClusterNode): Promise<void>
  /** Moves `slot` and its keys to `target` (a master); resolves once every live node agrees. */
  moveSlot(slot: number, target: ClusterNode): Promise<void>
  /** Every live node: cluster_state:ok, the same slot owners, and every live node seen alive. */
  waitUntilOk(): Promise<void>
  stop(): Promise<void>
}

interface NodeView {
  id: string
  port: number
  flags: string[]
  master: string
  /** The config epoch of the master (or of a replica's master). */
  epoch: number
  slots: string[]
}

function parseNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, master, , , epoch, , ...slots] = line.trim().split(' ')
      const port = Number(address!.split('@')[0]!.split(':').pop())
      return { id: id!, port, flags: flags!.split(','), master: master!, epoch: Number(epoch), slots }
    })
}

/** Who serves which slots in one node's view, as one comparable string. */
function slotOwners(view: NodeView[]): string {
  return view
    .filter((v) => v.slots.length > 0)
    .map((v) => `${v.id}:${v.slots.join(',')}`)
    .sort()
    .join(' ')
}

/** Each live node's view in short: who it sees as master of what, at which epoch, with which flags. */
function describe(views: NodeView[][], live: ClusterNode[]): string {
  return views
    .map((view, i) => {
      const seen = view.map(
        (v) =>
          `${v.port}${v.flags.includes('master') ? '(m)' : ''} e${v.epoch} ${v.flags.filter((f) => f !== 'master' && f !== 'slave' && f !== 'myself').join('+') || 'ok'} ${v.slots.join(',')}`,
      )
      return `${live[i]!.port} sees [${seen.join('; ')}]`
    })
    .join(' | ')
}

/** `slot` is in one of CLUSTER NODES' slot fields ("5", "0-5460"; migration markers ignored). */
function servesSlot(view: NodeView, slot: number): boolean {
  return view.slots.some((range) => {
    if (range.startsWith('[')) return false
    const [from, to = from] = range.split('-').map(Number)
    return slot >= from! && slot <= to!
  })
}

class Cluster implements FaultCluster {
  readonly nodes: ClusterNode[]
  readonly urls: string[]
  readonly #down = new Set<string>()

  constructor(servers: RedisServer[], ids: string[]) {
    const down = this.#down
    this.nodes = servers.map((server, i) => {
      const id = ids[i]!
      return Object.create(server, {
        id: { value: id, enumerable: true },
        down: { get: () => down.has(id), enumerable: true },
      }) as ClusterNode
    })
    this.urls = servers.map((s) => s.url)
  }

  #live(): ClusterNode[] {
    return this.nodes.filter((n) => !n.down)
  }

  #byId(id: string): ClusterNode {
    const node = this.nodes.find((n) => n.id === id)
    if (!node) throw new Error(`no node ${id} in this cluster`)
    return node
  }

  async #views(): Promise<NodeView[][]> {
    return Promise.all(
      this.#live().map(async (n) => parseNodes(String(await command(n.port, 'CLUSTER', 'NODES')))),
    )
  }

  /** The slot owner every live node agrees on, if they agree. */
  async #owner(slot: number): Promise<ClusterNode | undefined> {
    const owners = (await this.#views()).map((view) => view.find((v) => servesSlot(v, slot))?.id)
    const [first] = owners
    if (first === undefined || owners.some((o) => o !== first)) return undefined
    return this.#byId(first)
  }

  masterOf(key: string): Promise<ClusterNode> {
    const slot = calculateSlot(key)
    return waitUntil(`the owner of slot ${slot}`, () => this.#owner(slot))
  }

  replicaOf(master: ClusterNode): Promise<ClusterNode> {
    return waitUntil(`a replica of ${master.port}`, async () => {
      const seen: string[] = []
      for (const node of this.#live()) {
        if (node === master) continue
        const replication = await info(node.port)
        if (
          replication.get('master_port') === String(master.port) &&
          replication.get('master_link_status') === 'up'
        )
          return node
        const following = replication.get('master_port') ?? '-'
        seen.push(
          `${node.port}: ${replication.get('role')} of ${following} (${replication.get('master_link_status') ?? '-'})`,
        )
      }
      // Not yet: what each node said, for the failure message.
      throw new Error(seen.join(', '))
    })
  }

  async kill(node: ClusterNode): Promise<void> {
    this.#down.add(node.id)
    await node.kill()
  }

  async killAndFailover(master: ClusterNode): Promise<ClusterNode> {
    const replica = await this.replicaOf(master)
    await this.kill(master)
    await waitForRole(replica, 'master')
    // Redis 7.0 can promote a replica at an older election's config epoch, below the dead
    // master's (after manual failovers back and forth on its slots): the others then leave the
    // slots with the dead master, and the cluster stays down for good (seen once in CI). BUMPEPOCH
    // gives it an epoch above every other; when it has one already, it does nothing ("STILL").
    await command(replica.port, 'CLUSTER', 'BUMPEPOCH')
    await this.waitUntilOk()
    return replica
  }

  async restart(node: ClusterNode): Promise<void> {
    await node.restart()
    this.#down.delete(node.id)
    await this.waitUntilOk()
    // A node that lost its slots while down comes back as a replica: wait until it is in sync.
    await waitUntil(`${node.port} to rejoin in sync`, async () => {
      const role = await roleOf(node.port)
      return role !== 'syncing'
    })
  }

  async failover(replica: ClusterNode): Promise<void> {
    // A manual failover gives up silently after 5 s, e.g. when the masters refuse to vote again
    // so soon after an election for the same slots (they wait 2 × node-timeout): ask again.
    await waitUntil(`${replica.port} to take over by CLUSTER FAILOVER`, async () => {
      if ((await roleOf(replica.port)) !== 'master') await command(replica.port, 'CLUSTER', 'FAILOVER')
      const promoted = await waitForRole(replica, 'master', MANUAL_FAILOVER_TIMEOUT + 2 * NODE_TIMEOUT).then(
        () => true,
        () => false,
      )
      if (!promoted) return false
      // Redis 7.0 can declare a manual failover won on the votes of the election just before it,
      // at that election's older epoch: the replica is master for a moment, then the old master's
      // newer epoch takes the slots back. Only a replica still master once the cluster agrees took over.
      await this.waitUntilOk()
      return (await roleOf(replica.port)) === 'master'
    })
  }

  async moveSlot(slot: number, target: ClusterNode): Promise<void> {
    // Right after a failover the views may still disagree on who is master: settle first.
    await this.waitUntilOk()
    const source = await this.#owner(slot)
    if (!source) throw new Error(`the live nodes do not agree who owns slot ${slot}`)
    if (source === target) return
    await command(target.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id)
    await command(source.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id)
    for (;;) {
      const keys = (await command(source.port, 'CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[]
      if (keys.length === 0) break
      await command(source.port, 'MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...keys)
    }
    // The target first, so it owns the slot before the source starts redirecting to it.
    const masters = await this.#masters()
    for (const node of [target, source, ...masters.filter((m) => m !== target && m !== source)]) {
      // A node another view still lists as master may have become a replica (SETSLOT refuses
      // replicas; they follow their master): ask the node itself.
      const [role] = (await command(node.port, 'ROLE')) as [string]
      if (role === 'master') await command(node.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id)
    }
    await waitUntil(
      `slot ${slot} to move to ${target.port}`,
      async () => (await this.#owner(slot)) === target,
    )
  }

  async #masters(): Promise<ClusterNode[]> {
    const [view] = await this.#views()
    return view!
      .filter((v) => v.flags.includes('master') && !v.flags.includes('fail'))
      .map((v) => this.#byId(v.id))
  }

  async waitUntilOk(): Promise<void> {
    // Not yet: throws what is not settled, so that a wait that runs out says why.
    await waitUntil('the cluster to be ok', async () => {
      const live = this.#live()
      const states = await Promise.all(live.map((n) => info(n.port, 'cluster')))
      const notOk = live.filter((_, i) => states[i]!.get('cluster_state') !== 'ok').map((n) => n.port)
      if (notOk.length > 0)
        throw new Error(`cluster_state not ok on ${notOk.join(', ')}; ${await this.#described()}`)
      const views = await this.#views()
      const liveIds = new Set(live.map((n) => n.id))
      views.forEach((view, i) => {
        // Every live node is seen alive and connected by every other, and all agree on slot owners.
        for (const v of view) {
          if (!liveIds.has(v.id)) continue
          const flag = v.flags.find((f) => f === 'fail' || f === 'fail?' || f === 'handshake')
          if (flag) throw new Error(`${live[i]!.port} sees ${v.port} as ${flag}`)
        }
        if (slotOwners(view) !== slotOwners(views[0]!))
          throw new Error(
            `${live[i]!.port} and ${live[0]!.port} disagree on slot owners; ${describe(views, live)}`,
          )
      })
      return true
    })
  }

  async #described(): Promise<string> {
    const live = this.#live()
    return describe(await this.#views(), live)
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()))
  }
}

/**
 * A 3+3 fault cluster of the test file's own, started before its tests, and the fleets its
 * tests open: they are closed after the tests, then the cluster is stopped (as filePrimaryReplica).
 */
export function fileFaultCluster(): { cluster: () => FaultCluster; fleets: Fleet[] } {
  const { servers, fleets } = fileServers('cluster', startFaultCluster)
  return { cluster: servers, fleets }
}

/** Starts 3 masters + 3 replicas with `redis-cli --cluster create`; resolves once all are ok and in sync. */
export async function startFaultCluster(): Promise<FaultCluster> {
  const extra = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    String(NODE_TIMEOUT),
    // Let a replica take over however long its link was down (all nodes share a loaded machine).
    '--cluster-replica-validity-factor',
    '0',
    ...NO_SYNC_DELAY,
  ]
  const started = await Promise.allSettled(Array.from({ length: 6 }, () => startRedis({ bus: true, extra })))
  const servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const stopAll = () => Promise.all(servers.map((s) => s.stop())).then(() => undefined)
  try {
    const failed = started.find((r) => r.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`)
    await runCli(['--cluster', 'create', ...addresses, '--cluster-replicas', '1', '--cluster-yes'])
    const ids = await Promise.all(servers.map(async (s) => String(await command(s.port, 'CLUSTER', 'MYID'))))
    const cluster = new Cluster(servers, ids)
    await cluster.waitUntilOk()
    await waitUntil('every node to know all 6', async () => {
      const views = await Promise.all(servers.map((s) => info(s.port, 'cluster')))
      return views.every((v) => v.get('cluster_known_nodes') === '6')
    })
    await Promise.all(
      servers.map((s) => waitUntil(`${s.port} in sync`, async () => (await roleOf(s.port)) !== 'syncing')),
    )
    return cluster
  } catch (error) {
    await stopAll()
    throw error
  }
}

async function runCli(args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('redis-cli', args, (error, _stdout, stderr) =>
      error ? reject(new Error(`redis-cli ${args.join(' ')}: ${stderr}`)) : resolve(),
    )
  })
}

// --- black hole ----------------------------------------------------------------------------------

export interface BlackHole {
  readonly port: number
  readonly url: string
  /** Connections accepted so far. */
  readonly accepted: number
  close(): Promise<void>
}

/** A TCP server on a free loopback port that accepts every connection and never sends a byte. */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
    // Read and discard, so the client's writes never block: it waits for replies forever.
    socket.resume()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as { port: number }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get accepted() {
      return accepted
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

// --- lost reply ----------------------------------------------------------------------------------

export interface ReplyCutter {
  readonly url: string
  /**
   * From now on the next reply from Redis is dropped together with its connection, and no new
   * connection is accepted: a command that reached Redis (and was applied) whose client never
   * hears back, and whose retries find the node gone.
   */
  cut(): void
  close(): Promise<void>
}

/** A TCP proxy on a free loopback port in front of the Redis at `port`, until `cut()`. */
export async function startReplyCutter(port: number): Promise<ReplyCutter> {
  const sockets = new Set<Socket>()
  let cutting = false
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => sockets.delete(socket))
  }
  const server = createServer((client) => {
    const redis = connect(port, '127.0.0.1')
    track(client)
    track(redis)
    client.on('data', (data) => redis.write(data))
    redis.on('data', (data) => {
      if (!cutting) client.write(data)
      else for (const socket of [client, redis]) socket.destroy()
    })
    client.once('close', () => redis.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address() as { port: number }
  const closed = new Promise<void>((resolve) => server.once('close', resolve))
  return {
    url: `redis://127.0.0.1:${address.port}`,
    cut() {
      cutting = true
      server.close()
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      if (server.listening) server.close()
      await closed
    },
  }
}
