import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clusterOptions, redisOptions } from '../../src/topology/connection.ts'

const settings = {
  connectTimeout: 500,
  commandTimeout: 500,
  reconnectAttempts: 1,
  poolSize: 1,
  onError: () => {},
}

// A command whose connection closes after it was written may have been applied. The client must
// hand that failure to the operation runner (which re-sends only what repeats safely) instead of
// re-sending it on its own: an INCRBY re-sent by the client would count twice.
test('the clients never re-send a command whose connection closed', () => {
  assert.equal(redisOptions(settings).autoResendUnfulfilledCommands, false)
  assert.equal(clusterOptions(settings).redisOptions?.autoResendUnfulfilledCommands, false)
  assert.equal(clusterOptions(settings).retryDelayOnFailover, 0)
})

// ioredis' ready check (CLUSTER INFO) disconnects on a timeout or cluster_state:fail, a close
// ClusterHealth would take for unreachable seeds; and TRYAGAIN retries must end before the
// command's deadline, which runs across them, turns Redis' refusal into a timeout.
test('clusters: no ready check; CLUSTERDOWN is not re-sent by ioredis, TRYAGAIN retries end within half of commandTimeout', () => {
  assert.equal(clusterOptions(settings).enableReadyCheck, false)
  for (const commandTimeout of [1000, 500, 20, 5000]) {
    const options = clusterOptions({ ...settings, commandTimeout })
    // ioredis would send it again to a random master (a frozen one held it): the retry policy does.
    assert.equal(options.retryDelayOnClusterDown, 0)
    const delay = options.retryDelayOnTryAgain!
    assert.ok(delay > 0, 'TRYAGAIN is retried')
    assert.ok(delay * options.maxRedirections! <= Math.max(commandTimeout / 2, options.maxRedirections!))
  }
  assert.equal(clusterOptions({ ...settings, commandTimeout: 0 }).retryDelayOnTryAgain, 100)
})
