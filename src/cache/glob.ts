/**
 * Redis glob patterns (what SCAN MATCH takes): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\` to
 * escape. The memory backend matches with the same rules (a port of Redis' `stringmatchlen`),
 * and every prefix the cache puts in front of a user's glob is escaped so that it matches only
 * itself.
 */
const SPECIAL = /[*?[\]\\]/g

/** A literal string as a glob that matches only that string. */
export function escapeGlob(text: string): string {
  return text.replace(SPECIAL, (c) => `\\${c}`)
}

const STAR = 0x2a
const QUESTION = 0x3f
const OPEN = 0x5b
const CLOSE = 0x5d
const BACKSLASH = 0x5c
const CARET = 0x5e
const DASH = 0x2d

/**
 * Whether a text matches `glob` as Redis matches it: byte by byte over UTF-8 (so `?` is one
 * byte, not one character), an unclosed `[` running to the end of the pattern, a reversed range
 * `[z-a]` taken as `[a-z]`. Like Redis (since 7.0.9), a `*` that found no match for the rest of
 * the pattern anywhere ends the search, so no pattern takes exponential time. The glob is
 * encoded once, for the many keys a deleteMatched reads.
 */
export function globMatcher(glob: string): (text: string) => boolean {
  const pattern = Buffer.from(glob)
  return (text) => match(pattern, 0, Buffer.from(text), 0, { giveUp: false })
}

function match(pattern: Buffer, p: number, text: Buffer, t: number, state: { giveUp: boolean }): boolean {
  while (p < pattern.length && t < text.length) {
    switch (pattern[p]) {
      case STAR: {
        while (pattern[p + 1] === STAR) p++
        if (p === pattern.length - 1) return true
        for (; t < text.length; t++) {
          if (match(pattern, p + 1, text, t, state)) return true
          if (state.giveUp) return false
        }
        state.giveUp = true
        return false
      }
      case QUESTION:
        t++
        break
      case OPEN: {
        const end = classEnd(pattern, p + 1, text[t]!)
        if (!end.matched) return false
        p = end.at
        t++
        break
      }
      case BACKSLASH:
        if (p + 1 < pattern.length) p++
        if (pattern[p] !== text[t]) return false
        t++
        break
      default:
        if (pattern[p] !== text[t]) return false
        t++
    }
    p++
    if (t === text.length) {
      while (pattern[p] === STAR) p++
      break
    }
  }
  return p === pattern.length && t === text.length
}

/**
 * A byte as Redis compares a range's bounds: a C `char`, signed on the x86-64 builds Redis ships
 * for, so `[a-é]` (é's first byte is 0xC3, -61) is the range -61..97 and holds `^` but not `b`.
 */
function asCChar(byte: number): number {
  return byte > 0x7f ? byte - 0x100 : byte
}

/** A `[...]` class from just after its `[`: whether `c` is in it, and where its `]` (or the pattern's last byte) is. */
function classEnd(pattern: Buffer, from: number, c: number): { matched: boolean; at: number } {
  let p = from
  const negate = pattern[p] === CARET
  if (negate) p++
  let matched = false
  for (;;) {
    if (pattern[p] === BACKSLASH && pattern.length - p >= 2) {
      p++
      if (pattern[p] === c) matched = true
    } else if (pattern[p] === CLOSE) {
      break
    } else if (p === pattern.length) {
      // Unclosed: the class ends with the pattern.
      p--
      break
    } else if (pattern.length - p >= 3 && pattern[p + 1] === DASH) {
      const from = asCChar(pattern[p]!)
      const to = asCChar(pattern[p + 2]!)
      const at = asCChar(c)
      if (at >= Math.min(from, to) && at <= Math.max(from, to)) matched = true
      p += 2
    } else if (pattern[p] === c) {
      matched = true
    }
    p++
  }
  return { matched: negate ? !matched : matched, at: p }
}
