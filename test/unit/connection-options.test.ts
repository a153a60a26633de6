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
// ClusterHealth would take for unreachable seeds; and CLUSTERDOWN retries must end before
// ioredis' command timer, which runs across them, turns Redis' refusal into a timeout.
test('clusters: no ready check; CLUSTERDOWN and TRYAGAIN retries end within half of commandTimeout', () => {
  assert.equal(clusterOptions(settings).enableReadyCheck, false)
  for (const commandTimeout of [1000, 500, 20, 5000]) {
    const options = clusterOptions({ ...settings, commandTimeout })
    for (const delay of [options.retryDelayOnClusterDown!, options.retryDelayOnTryAgain!]) {
      const retries = delay * options.maxRedirections!
      assert.ok(delay > 0, 'CLUSTERDOWN and TRYAGAIN are retried')
      assert.ok(
        retries <= Math.max(commandTimeout / 2, options.maxRedirections!),
        `${commandTimeout}: ${retries}`,
      )
    }
  }
  const untimed = clusterOptions({ ...settings, commandTimeout: 0 })
  assert.equal(untimed.retryDelayOnClusterDown, 100)
  assert.equal(untimed.retryDelayOnTryAgain, 100)
})
