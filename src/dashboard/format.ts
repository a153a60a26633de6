/** Figures as operators read them: 1,234 · 3.2 MiB · 4.1 s · 12 min. */

export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : n.toLocaleString('en-US')
}

export function bytes(n: number | null): string {
  if (n === null) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** A duration in ms, rounded to what matters at its size. */
export function duration(ms: number | null): string {
  if (ms === null) return '–'
  const abs = Math.abs(ms)
  if (abs < 1000) return `${Math.round(ms)} ms`
  if (abs < 60_000) return `${(ms / 1000).toFixed(1)} s`
  if (abs < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((abs % 60_000) / 1000)} s`
  if (abs < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ${Math.round((abs % 3_600_000) / 60_000)} min`
  return `${(ms / 86_400_000).toFixed(1)} d`
}

/** ms since the epoch → ISO time, for title attributes and JSON-minded readers. */
export function timestamp(ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : '–'
}

/** A value as one line of JSON, cut at `max` characters (the page shows previews, not dumps). */
export function preview(value: unknown, max = 160): string {
  let text: string
  try {
    text = value === undefined ? 'undefined' : JSON.stringify(value)
  } catch {
    text = String(value)
  }
  return text.length > max ? `${cutAt(text, max - 1)}…` : text
}

/**
 * The first `length` UTF-16 units of `text`, or one fewer where the last would be the first half
 * of a surrogate pair: a half alone shows as U+FFFD (helper-297: an emoji cut in a preview).
 */
export function cutAt(text: string, length: number): string {
  const last = text.charCodeAt(length - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length)
}

/** A value as indented JSON, for the expandable full view. */
export function pretty(value: unknown): string {
  try {
    return value === undefined ? 'undefined' : JSON.stringify(value, null, 2)
  } catch {
    return String(value)
  }
}
