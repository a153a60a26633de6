/**
 * Fractional counter steps as Redis takes them, for the memory topology. INCRBYFLOAT adds in a
 * long double (64-bit mantissa, about 19 significant digits) and stores the sum printed with
 * `%.17Lf` and its trailing zeros removed, so `0.001 + 1 + 3` is stored as `4.001`. Adding in a
 * JavaScript double instead gives `4.0009999999999994`. Adding the decimal texts exactly and
 * rounding to 17 places gives what Redis stores, short of values so large that the long double's
 * own rounding shows within 17 places; those parse back to the same JavaScript number anyway.
 */

/**
 * A counter's text as INCRBY takes it (Redis' `string2ll`): digits with no leading zero, after
 * at most a '-'. "007", "-0" and "+1" are not integers to INCRBY (INCRBYFLOAT takes them).
 */
export const INTEGER_TEXT = /^(?:0|-?[1-9]\d*)$/

/** Digits after the point that INCRBYFLOAT keeps (`%.17Lf`). */
const PLACES = 17

/** A decimal number as an integer count of 10^-scale. */
interface Decimal {
  units: bigint
  scale: number
}

const NUMBER = /^([-+]?)(\d*)(?:\.(\d*))?(?:e([-+]?\d+))?$/i

/** Parses a decimal text such as `-1.5`, `.25` or `1e-7`; undefined when it is not one. */
function parse(text: string): Decimal | undefined {
  const match = NUMBER.exec(text)
  if (!match) return undefined
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match
  if (whole === '' && fraction === '') return undefined
  let units = BigInt(whole + fraction || '0')
  let scale = fraction.length - Number(exponent)
  if (scale < 0) {
    units *= 10n ** BigInt(-scale)
    scale = 0
  }
  return { units: sign === '-' ? -units : units, scale }
}

/** Rescales to `PLACES` digits after the point, rounding half away from zero. */
function round({ units, scale }: Decimal): bigint {
  if (scale <= PLACES) return units * 10n ** BigInt(PLACES - scale)
  const divisor = 10n ** BigInt(scale - PLACES)
  const magnitude = units < 0n ? -units : units
  const rounded = (magnitude + divisor / 2n) / divisor
  return units < 0n ? -rounded : rounded
}

/** `units` × 10^-PLACES as Redis prints it: no trailing zeros, no point when whole, no `-0`. */
function format(units: bigint): string {
  if (units === 0n) return '0'
  const digits = (units < 0n ? -units : units).toString().padStart(PLACES + 1, '0')
  const whole = digits.slice(0, -PLACES)
  const fraction = digits.slice(-PLACES).replace(/0+$/, '')
  return `${units < 0n ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}

/** The text INCRBYFLOAT stores for `current + by`; undefined when `current` is not a number. */
export function addAsRedis(current: string, by: number): string | undefined {
  const counter = parse(current)
  const step = parse(String(by))
  if (!counter || !step) return undefined
  const scale = Math.max(counter.scale, step.scale)
  const units =
    counter.units * 10n ** BigInt(scale - counter.scale) + step.units * 10n ** BigInt(scale - step.scale)
  return format(round({ units, scale }))
}
