import { checkedWhereUsed, checkOptions, functionOption, type OptionSchema } from '../validate.ts'

export const BROKER_OPTIONS: OptionSchema = { channel: checkedWhereUsed, onError: functionOption }
export const PRESENCE_OPTIONS: OptionSchema = { onError: functionOption }

/** Options of broker and presence, validated synchronously by the factory (ConfigError). */
export function assertOptions(
  what: 'broker' | 'presence',
  options: unknown,
): asserts options is { onError?: unknown } {
  checkOptions(options, what === 'broker' ? BROKER_OPTIONS : PRESENCE_OPTIONS, { what: `${what} options` })
}
