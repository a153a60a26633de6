import { checkedByFactory, type OptionSchema, retryOption } from '../validate.ts'

/** Every option `fleet.membership()` takes; `ttl` is checked where it is read. */
export const MEMBERSHIP_OPTIONS: OptionSchema = {
  ttl: checkedByFactory,
  onError: checkedByFactory,
  retry: retryOption,
}
