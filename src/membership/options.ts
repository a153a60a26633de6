import { checkedWhereUsed, type OptionSchema, retryOption } from '../validate.ts'

/** Every option `fleet.membership()` takes; `ttl` is checked where it is read. */
export const MEMBERSHIP_OPTIONS: OptionSchema = {
  ttl: checkedWhereUsed,
  onError: checkedWhereUsed,
  retry: retryOption,
}
