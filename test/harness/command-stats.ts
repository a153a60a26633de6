/** Scripts the server has run (EVAL and EVALSHA calls, from `INFO commandstats`) since it started. */
export async function scriptsRun(client: { info(section: string): Promise<string> }): Promise<number> {
  const stats = await client.info('commandstats')
  let calls = 0
  for (const [, count] of stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)) calls += Number(count)
  return calls
}
