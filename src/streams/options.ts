import { waitForOption } from '../durability.ts'
import { checkedWhereUsed, type OptionSchema, retryOption } from '../validate.ts'

/** Every option `fleet.streams()` takes; the numbers are checked where they are read. */
export const STREAMS_OPTIONS: OptionSchema = {
  eventsMaxLen: checkedWhereUsed,
  channelMaxLen: checkedWhereUsed,
  maxBlockingConnections: checkedWhereUsed,
  onError: checkedWhereUsed,
  waitFor: waitForOption,
  retry: retryOption,
}
