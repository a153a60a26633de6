import { waitForOption } from '../durability.ts'
import { checkedByFactory, type OptionSchema, retryOption } from '../validate.ts'

/** Every option `fleet.streams()` takes; the numbers are checked where they are read. */
export const STREAMS_OPTIONS: OptionSchema = {
  eventsMaxLen: checkedByFactory,
  channelMaxLen: checkedByFactory,
  maxBlockingConnections: checkedByFactory,
  onError: checkedByFactory,
  waitFor: waitForOption,
  retry: retryOption,
}
