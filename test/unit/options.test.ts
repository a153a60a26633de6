import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { ConfigError, createFleet, type FleetOptions, RedfleetError } from '../../src/index.ts'
import { MEMORY_FALLBACK_WARNING } from '../../src/options.ts'

test('topology follows the options: none, one url, several urls, cluster', () => {
  assert.equal(createFleet().topology, 'memory')
  assert.equal(createFleet({ url: 'redis://127.0.0.1:1' }).topology, 'standalone')
  assert.equal(createFleet({ url: ['redis://127.0.0.1:1', 'redis://127.0.0.1:2'] }).topology, 'sharded')
  assert.equal(createFleet({ url: 'redis://127.0.0.1:1', cluster: true }).topology, 'cluster')
  assert.equal(createFleet().namespace, 'rf')
  assert.equal(createFleet({ namespace: 'shop' }).withNamespace('eu').namespace, 'shop:eu')
})

test('withNamespace refuses what createFleet refuses as a namespace: ConfigError naming it', () => {
  const fleet = createFleet({ namespace: 'shop' })
  for (const ns of ['', 5, 'a b', '{tag}', undefined]) {
    assert.throws(
      () => fleet.withNamespace(ns as never),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'ERR_INVALID_OPTION' &&
        /^withNamespace: namespace must be a non-empty string without spaces or braces/.test(error.message),
      String(ns),
    )
  }
  assert.equal(fleet.withNamespace('eu').withNamespace('fr').namespace, 'shop:eu:fr')
})

test("withNamespace refuses a name where the fleet's own primitives keep their keys (a view there would share them)", async () => {
  const fleet = createFleet({ namespace: 'shop' })
  for (const ns of [
    'cache',
    'store',
    'streams',
    'tracker',
    'membership',
    'cache:x',
    'cache~tag',
    'cache~x',
  ]) {
    assert.throws(
      () => fleet.withNamespace(ns),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'ERR_INVALID_OPTION' &&
        error.message.includes(`withNamespace: '${ns}' would put the view's keys under shop:`),
      ns,
    )
  }
  assert.throws(() => fleet.withNamespace('eu').withNamespace('store'), /under shop:eu:store:/)
  // What the refusal prevents: the fleet's cache.clear() deleting a view's entries.
  const view = fleet.withNamespace('caches')
  await view.cache().write('kept', 1)
  await fleet.cache().clear()
  assert.equal(await view.cache().read('kept'), 1)
  await fleet.close()
})

// The same place as a namespace of its own: `createFleet({ namespace: 'shop:cache' })` is
// `withNamespace('cache')` of `shop`, and `shop`'s cache.clear() deleted its keys (helper-256).
test("a namespace may not be where another namespace's primitives keep their keys", async () => {
  for (const [namespace, under, owner] of [
    ['shop:cache', 'shop:cache:', 'shop'],
    ['shop:streams', 'shop:streams:', 'shop'],
    ['shop:cache~tag', 'shop:cache~tag:', 'shop'],
    ['shop:eu:store', 'shop:eu:store:', 'shop:eu'],
    ['shop:eu:tracker:x', 'shop:eu:tracker:', 'shop:eu'],
  ]) {
    assert.throws(
      () => createFleet({ namespace }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'ERR_INVALID_OPTION' &&
        error.message.includes(
          `namespace '${namespace}' is under ${under}, where the fleet of namespace '${owner}'`,
        ),
      namespace,
    )
  }
  // A namespace that only starts with a primitive's name, or names a view, is its own.
  for (const namespace of ['cache', 'store:x', 'shop:eu', 'shop:caches', 'shop:demo-1']) {
    await createFleet({ namespace }).close()
  }
})

test("a store's prefix may not be where the fleet's other primitives keep their keys: their clear() would delete the store's", async () => {
  const fleet = createFleet({ namespace: 'shop' })
  for (const prefix of [
    'cache:',
    'cache',
    'cache:x:',
    'cache~tag:',
    'streams:',
    'tracker:',
    'token:',
    'membership:',
  ]) {
    assert.throws(
      () => fleet.store({ prefix }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'ERR_INVALID_OPTION' &&
        error.message.includes(`store: prefix '${prefix}' would put the store's keys under shop:`),
      prefix,
    )
  }
  assert.throws(() => fleet.withNamespace('eu').store({ prefix: 'cache:' }), /under shop:eu:cache:/)
  // Stores' own places, and any other name, are taken.
  for (const prefix of ['store:', 'store:carts:', 'convert:', 'carts:', 'caches:', ''])
    fleet.store({ prefix })
  // A prefix with no ':' leaves the first segment to the key: a key that finishes it as another
  // primitive's place is refused, on every method, before anything is sent.
  const open = fleet.store({ prefix: '' })
  const nameless = fleet.withNamespace('eu').store({ prefix: 'c' })
  const refused = (key: string, under: string) => (error: unknown) =>
    error instanceof TypeError &&
    (error as { code?: string }).code === 'ERR_INVALID_KEY' &&
    error.message.includes(`key '${key}'`) &&
    error.message.includes(`would be stored under ${under}`)
  for (const key of ['cache:settings', 'streams:events', 'membership:live', 'cache~tags:x', 'cache:']) {
    await assert.rejects(open.set(key, 1), refused(key, `shop:${key.split(':')[0]}:`), key)
  }
  await assert.rejects(nameless.set('ache:x', 1), refused('ache:x', 'shop:eu:cache:'))
  await assert.rejects(open.get('tracker:x'), refused('tracker:x', 'shop:tracker:'))
  await assert.rejects(open.getMany(['ok', 'token:x']), refused('token:x', 'shop:token:'))
  await assert.rejects(
    open.setMany([
      ['ok', 1],
      ['cache:x', 2],
    ]),
    refused('cache:x', 'shop:cache:'),
  )
  assert.equal(await open.get('ok'), undefined, 'a refused setMany writes none of its keys')
  for (const m of ['delete', 'setIfNotExists', 'increment'] as const) {
    await assert.rejects(
      (open[m] as (k: string) => Promise<unknown>)('cache:x'),
      { code: 'ERR_INVALID_KEY' },
      m,
    )
  }
  await assert.rejects(
    open.update('cache:x', () => 1),
    { code: 'ERR_INVALID_KEY' },
  )
  // The stores' own places and any other name are taken, as prefixes are.
  await open.set('carts:1', 1)
  await open.set('store:shared', 2)
  assert.equal(await fleet.store().get('shared'), 2)
  await fleet.store({ prefix: 'cachex' }).set(':y', 3)
  // What the refusal prevents: the fleet's cache.clear() deleting a store's values.
  const carts = fleet.store({ prefix: 'caches:' })
  await carts.set('cart-1', { items: 3 })
  await fleet.cache().clear()
  assert.deepEqual(await carts.get('cart-1'), { items: 3 })
  await fleet.close()
})

test("a view, a store prefix or a store key may not be where a view's primitives keep their keys ('eu:cache' is view eu's cache)", async () => {
  const fleet = createFleet({ namespace: 'shop' })
  const viewPlace = (under: string, view: string) => (error: unknown) =>
    error instanceof ConfigError &&
    error.code === 'ERR_INVALID_OPTION' &&
    error.message.includes(`under ${under}, where the view '${view}''s own`)
  for (const [ns, under, view] of [
    ['eu:cache', 'shop:eu:cache:', 'eu'],
    ['eu:cache:x', 'shop:eu:cache:', 'eu'],
    ['eu:west:tracker', 'shop:eu:west:tracker:', 'eu:west'],
    ['eu:cache~tags', 'shop:eu:cache~tags:', 'eu'],
  ] as const) {
    assert.throws(() => fleet.withNamespace(ns), viewPlace(under, view), ns)
  }
  assert.throws(
    () => fleet.withNamespace('eu').withNamespace('x:membership'),
    viewPlace('shop:eu:x:membership:', 'x'),
  )
  assert.throws(() => fleet.store({ prefix: 'eu:cache:' }), viewPlace('shop:eu:cache:', 'eu'))
  // Inside a stores' place anything goes, as in the fleet's own.
  for (const prefix of ['store:cache:', 'eu:store:', 'eu:store:cache:', 'eu:caches:']) fleet.store({ prefix })
  const refused = (key: string, under: string) => (error: unknown) =>
    error instanceof TypeError &&
    (error as { code?: string }).code === 'ERR_INVALID_KEY' &&
    error.message.includes(`key '${key}'`) &&
    error.message.includes(`would be stored under ${under}`)
  await assert.rejects(
    fleet.store({ prefix: '' }).set('eu:cache:k', 1),
    refused('eu:cache:k', 'shop:eu:cache:'),
  )
  await assert.rejects(fleet.store({ prefix: 'eu:' }).set('cache:k', 1), refused('cache:k', 'shop:eu:cache:'))
  await assert.rejects(
    fleet.store({ prefix: 'eu:' }).getMany(['a', 'streams:x']),
    refused('streams:x', 'shop:eu:streams:'),
  )
  await fleet.store({ prefix: 'eu:' }).set('carts:1', 1)
  // A key's last segment is only its end: no primitive keeps a key there.
  for (const key of ['cache', 'user:7:token', 'page:home:cache', 'a:cache~tags']) {
    await fleet.store({ prefix: '' }).set(key, 1)
    await fleet.store({ prefix: 'sessions:' }).set(key, 1)
  }
  await fleet.store({ prefix: 'eu:store:' }).set('cache:1', 1)
  // What the refusals prevent: view eu's cache.clear() deleting what was stored there.
  const eu = fleet.withNamespace('eu')
  await eu.cache().write('entry', 1)
  await eu.cache().clear()
  assert.equal(await fleet.store({ prefix: 'eu:' }).get('carts:1'), 1)
  assert.equal(await eu.store().get('cache:1'), 1)
  await fleet.close()
})

test('bad options throw ConfigError synchronously, naming the option', () => {
  const bad: [object, RegExp][] = [
    [{ url: 'http://x' }, /redis:\/\//],
    [{ url: 'not a url' }, /not a valid/],
    [{ url: [''] }, /url/],
    [{ cluster: true }, /seed/],
    [{ namespace: 'a{b}' }, /namespace/],
    [{ namespace: '' }, /namespace/],
    [{ pool: { size: 0 } }, /pool.size/],
    [{ connectTimeout: -1 }, /connectTimeout/],
    [{ commandTimeout: Number.NaN }, /commandTimeout/],
    [{ reconnectAttempts: 1.5 }, /reconnectAttempts/],
    [{ client: {} }, /ioredis/],
    [{ url: ['redis://a:1', 'redis://a:1/0'] }, /twice/],
    // Refused up front, not on first use (ioredis sent SELECT NaN for ?db=x, and a leading space
    // failed every call with a bare "Invalid URL").
    [{ url: 'redis://a:1?db=x' }, /\?db=.*as the path/],
    [{ url: 'redis://a:1/2?db=2' }, /\?db=/],
    [{ url: ' redis://a:1' }, /spaces/],
    [{ url: 'redis://a:1 ' }, /spaces/],
    [{ url: 'redis://a:0' }, /port 0/],
    [{ url: 'redis://a:1/-1' }, /db number/],
    [{ url: 'redis://a:1/1.5' }, /db number/],
    [{ url: 'redis://a:1/2', cluster: true }, /Redis Cluster has db 0 only/],
  ]
  for (const [options, message] of bad) {
    assert.throws(
      () =>
        createFleet(options as never)
          .store()
          .get('x'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, `${JSON.stringify(options)} gave ${String(e)}`)
        assert.match((e as Error).message, message)
        return true
      },
    )
  }
})

/** Runs `make` and returns the ConfigError it throws, after checking its class and code. */
function configError(make: () => unknown, code: string): ConfigError {
  try {
    make()
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    assert.ok(error instanceof RedfleetError)
    assert.equal(error.code, code, error.message)
    return error
  }
  assert.fail('expected a ConfigError, nothing was thrown')
}

test('an unknown option is a ConfigError naming it and the nearest valid name', () => {
  const cases: [object, string, string][] = [
    [{ namespce: 'x' }, 'namespce', 'namespace'],
    [{ URL: 'redis://127.0.0.1:1' }, 'URL', 'url'],
    [{ conectTimeout: 10 }, 'conectTimeout', 'connectTimeout'],
    [{ pool: { sise: 2 } }, 'pool.sise', 'pool.size'],
    [{ retry: { attempt: 2 } }, 'retry.attempt', 'retry.attempts'],
    // Another client's name for a redfleet option points at redfleet's.
    [{ maxRetriesPerRequest: 1 }, 'maxRetriesPerRequest', 'reconnectAttempts'],
    [{ host: 'localhost' }, 'host', 'url'],
  ]
  for (const [options, name, nearest] of cases) {
    const error = configError(() => createFleet(options as FleetOptions), 'ERR_UNKNOWN_OPTION')
    assert.match(error.message, new RegExp(`"${name}".*did you mean "${nearest}"`))
  }
  // No near name: the valid names are listed instead.
  const far = configError(() => createFleet({ zzz: 1 } as FleetOptions), 'ERR_UNKNOWN_OPTION')
  assert.match(far.message, /"zzz".*known: url, cluster, memory, client, namespace/)
})

test('a value of the wrong type names the option, the expected type and what it got', () => {
  const cases: [FleetOptions, string][] = [
    [{ connectTimeout: '5000' as never }, 'connectTimeout must be a number, got the string "5000"'],
    [{ commandTimeout: -1 }, 'commandTimeout must be a number from 0 to 2147483647, got the number -1'],
    // A Node timer fires at once past 2^31 - 1 ms; a connect limit of 0 ends every handshake.
    [
      { commandTimeout: 2 ** 31 },
      'commandTimeout must be a number from 0 to 2147483647, got the number 2147483648',
    ],
    [{ connectTimeout: 0 }, 'connectTimeout must be a number from 1 to 2147483647, got the number 0'],
    [
      { connectTimeout: 1e20 },
      'connectTimeout must be a number from 1 to 2147483647, got the number 100000000000000000000',
    ],
    [{ reconnectAttempts: '1' as never }, 'reconnectAttempts must be an integer, got the string "1"'],
    [{ reconnectAttempts: 1.5 }, 'reconnectAttempts must be an integer of at least 0, got the number 1.5'],
    [{ cluster: 'yes' as never }, 'cluster must be true or false, got the string "yes"'],
    [{ memory: 1 as never }, 'memory must be true or false, got the number 1'],
    [{ onError: 'log' as never }, 'onError must be a function, got the string "log"'],
    [{ namespace: 5 as never }, 'namespace must be a string, got the number 5'],
    [{ url: 6379 as never }, 'url must be a redis:// url or an array of them, got the number 6379'],
    [{ pool: 3 as never }, 'pool must be an object, got the number 3'],
    [{ pool: { size: 0 } }, 'pool.size must be an integer of at least 1, got the number 0'],
    [{ retry: { attempts: -1 } }, 'retry.attempts must be an integer of at least 1, got the number -1'],
    [{ retry: { attempts: 0 } }, 'retry.attempts must be an integer of at least 1, got the number 0'],
    [{ retry: { base: -5 } }, 'retry.base must be a number from 0 to 2147483647, got the number -5'],
    [{ retry: { max: -1 } }, 'retry.max must be a number from 0 to 2147483647, got the number -1'],
    [{ retry: { factor: 0.5 } }, 'retry.factor must be a number of at least 1, got the number 0.5'],
    [{ retry: { jitter: 2 } }, 'retry.jitter must be a number from 0 to 1, got the number 2'],
    [{ retry: { jitter: Number.NaN } }, 'retry.jitter must be a number from 0 to 1, got the number NaN'],
  ]
  for (const [options, message] of cases) {
    const error = configError(() => createFleet(options), 'ERR_INVALID_OPTION')
    assert.ok(error.message.includes(message), `${error.message}\n  should include\n${message}`)
  }
  configError(() => createFleet('redis://127.0.0.1:1' as never), 'ERR_INVALID_OPTION')
  // A Map's entries are not its properties: it made a memory fleet, its url and namespace ignored.
  const fromMap = configError(
    () => createFleet(new Map([['url', 'redis://127.0.0.1:1']]) as never),
    'ERR_INVALID_OPTION',
  )
  assert.match(fromMap.message, /createFleet options must be an object, got a Map/)
  // Behind a Proxy (Vue's reactive(new Map())), and a URL given for { url }: no options either.
  const url = 'redis://127.0.0.1:1'
  for (const given of [
    new Proxy(new Map([['url', url]]), {}),
    new URL(url),
    new URLSearchParams(`url=${url}`),
  ]) {
    configError(() => createFleet(given as never), 'ERR_INVALID_OPTION')
  }
})

test('a malformed url is ERR_INVALID_OPTION and its message never shows the password', () => {
  for (const url of ['http://user:s3cret@host:1', 'redis://:s3cret@host:1/x', 'not a url']) {
    const error = configError(() => createFleet({ url }), 'ERR_INVALID_OPTION')
    assert.doesNotMatch(error.message, /s3cret/)
    assert.match(error.message, /url/)
  }
  const error = configError(() => createFleet({ url: 'http://user:s3cret@host:1' }), 'ERR_INVALID_OPTION')
  assert.match(error.message, /http:\/\/user:\*\*\*@host:1/)
  // However malformed (helper-310): no scheme (a REDIS_URL without its redis://), one slash,
  // no colon, no slashes, a password with a / in it (base64 access keys).
  for (const [url, shown] of [
    ['alice:s3cret@127.0.0.1:1', 'alice:***@127.0.0.1:1'],
    [':s3cret@127.0.0.1', ':***@127.0.0.1'],
    ['redis:/alice:s3cret@127.0.0.1:1', 'redis:/alice:***@127.0.0.1:1'],
    ['redis//alice:s3cret@127.0.0.1:1', 'redis//alice:***@127.0.0.1:1'],
    ['redis:alice:s3cret@127.0.0.1:1', 'redis:alice:***@127.0.0.1:1'],
    ['redis://alice:s3c/ret@127.0.0.1:1/2', 'redis://alice:***@127.0.0.1:1/2'],
    ['redis://a:s3c@ret@127.0.0.1:1/x', 'redis://a:***@127.0.0.1:1/x'],
    ['redis://s3cret@127.0.0.1:0', 'redis://***@127.0.0.1:0'],
    ['redis://u%3As3cret@127.0.0.1:1/x', 'redis://***@127.0.0.1:1/x'],
    ['redis:///u:s3cret@127.0.0.1:1', 'redis:///u:***@127.0.0.1:1'],
  ] as const) {
    const error = configError(() => createFleet({ url }), 'ERR_INVALID_OPTION')
    assert.doesNotMatch(error.message, /s3c/, url)
    assert.ok(error.message.includes(shown), `${error.message}\n  should name ${shown}`)
  }
  // An @ in the path or query of a url without a password is no password's end (helper-311).
  for (const url of ['redis://h:1/a@b', 'redis://[::1]:1/x@y', 'redis://127.0.0.1:1/0?x=y@z&db=1']) {
    const error = configError(() => createFleet({ url }), 'ERR_INVALID_OPTION')
    assert.ok(error.message.includes(JSON.stringify(url)), `${error.message}\n  should name ${url}`)
  }
})

test("a % in a url's username or password that is no %-escape is refused by createFleet", () => {
  for (const url of ['redis://alice:50%off@127.0.0.1:1', 'redis://a%zz:pw@127.0.0.1:1']) {
    const error = configError(() => createFleet({ url }), 'ERR_INVALID_OPTION')
    assert.match(
      error.message,
      /a % in its username or password that is not a %-escape of UTF-8 text: write a % as %25/,
    )
    assert.doesNotMatch(error.message, /50%off/)
  }
  assert.equal(createFleet({ url: 'redis://alice:50%25off@127.0.0.1:1' }).topology, 'standalone')
})

test('a url with no host is refused, not taken as localhost', () => {
  // The URL parser reads these as a path with an empty host; each would connect to localhost.
  const cases: [string, string][] = [
    ['redis:/x', 'url "redis:/x" must start with redis:// or rediss://'],
    ['redis:127.0.0.1:1', 'url "redis:127.0.0.1:1" must start with redis:// or rediss://'],
    ['redis://', 'url "redis://" names no host'],
    ['redis:///3', 'url "redis:///3" names no host'],
  ]
  for (const [url, message] of cases) {
    const error = configError(() => createFleet({ url }), 'ERR_INVALID_OPTION')
    assert.ok(error.message.includes(message), `${error.message}\n  should include\n${message}`)
  }
  assert.equal(createFleet({ url: 'REDIS://h:1', memory: false }).topology, 'standalone')
})

test('a bad url inside an array is named by its index', () => {
  for (const [url, got] of [
    [['redis://a:1', ''], 'the string ""'],
    [['redis://a:1', 5], 'the number 5'],
  ] as const) {
    const error = configError(() => createFleet({ url: url as never }), 'ERR_INVALID_OPTION')
    assert.ok(error.message.includes(`url[1] must be a redis:// url, got ${got}`), error.message)
  }
})

test('valid edge values are accepted', () => {
  createFleet({ retry: { attempts: 1, base: 0, factor: 1, max: 0, jitter: 0 } })
  createFleet({ retry: { jitter: 1 }, reconnectAttempts: 0, connectTimeout: 1, commandTimeout: 0 })
  createFleet({ connectTimeout: 2 ** 31 - 1, commandTimeout: 2 ** 31 - 1 })
  // A known option holding undefined means its default.
  assert.equal(createFleet({ namespace: undefined, pool: undefined }).namespace, 'rf')
})

test('client: an ioredis Redis or Cluster, or something shaped like a node-redis client or cluster', () => {
  const redis = new Redis({ lazyConnect: true })
  try {
    assert.equal(createFleet({ client: redis }).topology, 'standalone')
  } finally {
    redis.disconnect()
  }
  const ioredisCluster = { sendCommand() {}, status: 'wait', isCluster: true }
  assert.equal(createFleet({ client: ioredisCluster }).topology, 'cluster')
  const nodeRedis = { sendCommand() {}, connect() {}, isOpen: false }
  assert.equal(createFleet({ client: nodeRedis }).topology, 'standalone')
  assert.equal(createFleet({ client: { ...nodeRedis, masters: [] } }).topology, 'cluster')
  for (const client of [{}, 'redis://x', { connect() {} }]) {
    configError(() => createFleet({ client }), 'ERR_INVALID_OPTION')
  }
  configError(() => createFleet({ client: redis, url: 'redis://127.0.0.1:1' }), 'ERR_CONFLICTING_OPTIONS')
})

test('a cluster option that contradicts the client given is a ConfigError, not a fleet of the other kind', () => {
  const redis = new Redis({ lazyConnect: true })
  try {
    const standalone = configError(() => createFleet({ client: redis, cluster: true }), 'ERR_NOT_A_CLUSTER')
    assert.match(
      standalone.message,
      /cluster: true, but client is an? ioredis client of one server, not a cluster/,
    )
    assert.equal(createFleet({ client: redis, cluster: false }).topology, 'standalone')
  } finally {
    redis.disconnect()
  }
  const nodeRedis = { sendCommand() {}, connect() {}, isOpen: false }
  configError(() => createFleet({ client: nodeRedis, cluster: true }), 'ERR_NOT_A_CLUSTER')
  const nodeRedisCluster = { ...nodeRedis, masters: [] }
  const cluster = configError(
    () => createFleet({ client: nodeRedisCluster, cluster: false }),
    'ERR_CONFLICTING_OPTIONS',
  )
  assert.match(cluster.message, /cluster: false, but client is a node-redis cluster/)
  assert.equal(createFleet({ client: nodeRedisCluster, cluster: true }).topology, 'cluster')
})

/** Warnings emitted while `body` runs, once their nextTick delivery has happened. */
async function warningsOf(body: () => void): Promise<Error[]> {
  const seen: Error[] = []
  const listen = (warning: Error) => seen.push(warning)
  process.on('warning', listen)
  try {
    body()
    // process.emitWarning delivers on the next tick: one macrotask turn has seen them all.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listen)
  }
  return seen.filter((w) => w.name === 'RedfleetWarning')
}

test('choosing memory: silent when asked for, one warning per process for an empty url, an error in production', async () => {
  const previous = process.env.NODE_ENV
  try {
    process.env.NODE_ENV = 'production'
    // No url key at all, or memory: true: memory on purpose, even in production.
    const silent = await warningsOf(() => {
      assert.equal(createFleet().topology, 'memory')
      assert.equal(createFleet({}).topology, 'memory')
      assert.equal(createFleet({ namespace: 'x' }).topology, 'memory')
      assert.equal(createFleet({ url: undefined, memory: true }).topology, 'memory')
      assert.equal(createFleet({ memory: true }).topology, 'memory')
    })
    assert.deepEqual(silent, [])
    // The `url: process.env.REDIS_URL` case with the variable unset.
    for (const url of [undefined, '', []]) {
      const error = configError(() => createFleet({ url }), 'ERR_MEMORY_IN_PRODUCTION')
      assert.match(error.message, /NODE_ENV=production/)
      assert.match(error.message, /memory: true/)
    }
    // The same with a client variable not set yet.
    const noClient = configError(() => createFleet({ client: undefined }), 'ERR_MEMORY_IN_PRODUCTION')
    assert.match(noClient.message, /client is undefined/)

    process.env.NODE_ENV = 'development'
    const warned = await warningsOf(() => {
      assert.equal(createFleet({ url: undefined }).topology, 'memory')
      assert.equal(createFleet({ url: '' }).topology, 'memory')
      assert.equal(createFleet({ url: [] }).topology, 'memory')
    })
    assert.equal(warned.length, 1, 'one warning per process')
    assert.equal((warned[0] as Error & { code?: string }).code, MEMORY_FALLBACK_WARNING)
    assert.match(warned[0]!.message, /memory/)
    assert.doesNotMatch(warned[0]!.message, /maxRetriesPerRequest/)
  } finally {
    if (previous === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = previous
  }
})

test('memory: true with a url or a client, or memory: false without either, is a ConfigError', () => {
  configError(() => createFleet({ memory: true, url: 'redis://127.0.0.1:1' }), 'ERR_CONFLICTING_OPTIONS')
  configError(
    () => createFleet({ memory: true, client: { sendCommand() {}, status: 'wait' } }),
    'ERR_CONFLICTING_OPTIONS',
  )
  configError(() => createFleet({ memory: false }), 'ERR_INVALID_OPTION')
  assert.equal(createFleet({ memory: false, url: 'redis://127.0.0.1:1' }).topology, 'standalone')
})
