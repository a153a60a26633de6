import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hash53, rendezvousOwner } from '../../src/membership/rendezvous.ts'

test('hash53 gives the values every deployed process gives: a change would move keys between owners', () => {
  // Printed by the implementation before rendezvousOwner mixed each member's part once (2026-12-07).
  const pinned: [string, number][] = [
    ['', 3338908027751811],
    ['a', 7929297801672961],
    ['a\u0000job-1', 3217865551444454],
    ['worker-7\u0000order:42', 6173701210000350],
    ['😀\u0000é', 8164678247390291],
  ]
  for (const [text, hash] of pinned) assert.equal(hash53(text), hash, JSON.stringify(text))
  const members = ['worker-1', 'worker-2', 'worker-3', 'wörker-😀']
  const owners = ['order:1', 'order:2', 'order:3', 'order:4', '😀-key'].map((key) =>
    rendezvousOwner(key, members),
  )
  assert.deepEqual(owners, ['worker-2', 'wörker-😀', 'wörker-😀', 'worker-3', 'wörker-😀'])
})

/** A string of 0–12 UTF-16 units: ASCII, Latin, astral (surrogate pairs) and lone surrogates. */
function randomText(random: () => number): string {
  const pieces = ['a', 'z', '0', ':', 'é', '😀', '\u{1F600}', '\uD800', '\uDFFF', '\u0000', 'ß']
  return Array.from(
    { length: Math.floor(random() * 12) },
    () => pieces[Math.floor(random() * pieces.length)],
  ).join('')
}

test('rendezvousOwner is the member with the highest hash53 of member, NUL, key (2,000 random cases)', () => {
  let seed = 7
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 2 ** 32
  }
  for (let n = 0; n < 2000; n++) {
    const members = [
      ...new Set(Array.from({ length: 1 + Math.floor(random() * 20) }, () => `m${randomText(random)}`)),
    ]
    const key = randomText(random)
    const weight = (member: string) => hash53(`${member}\u0000${key}`)
    const expected = members.reduce((best, member) =>
      weight(member) > weight(best) || (weight(member) === weight(best) && member > best) ? member : best,
    )
    assert.equal(rendezvousOwner(key, members), expected)
    assert.equal(rendezvousOwner(key, Object.freeze([...members])), expected, 'a frozen list too')
  }
})

test("a caller's own list changed between calls is read as it is now; a frozen one is mixed once", () => {
  const members = ['a', 'b']
  const keys = Array.from({ length: 50 }, (_, i) => `job-${i}`)
  for (const key of keys) rendezvousOwner(key, members)
  members.push('c', 'd', 'e')
  for (const key of keys) {
    assert.equal(rendezvousOwner(key, members), rendezvousOwner(key, [...members]), key)
  }
  assert.ok(keys.some((key) => ['c', 'd', 'e'].includes(rendezvousOwner(key, members)!)))
})
