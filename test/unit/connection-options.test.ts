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
