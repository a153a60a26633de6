/** The dashboard's stylesheet, served as static/dashboard.css. */
export const STYLE = `
:root { --fg: #1b2330; --muted: #6b7585; --line: #e3e7ee; --bg: #f5f7fa; --card: #fff;
  --accent: #2563eb; --good: #15803d; --bad: #c0262d; --warn: #b45309; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
code, pre { font-family: var(--mono); font-size: 12.5px; }
.top { display: flex; align-items: center; gap: 1.2rem; padding: .6rem 1.5rem; background: #111827; color: #e5e7eb; flex-wrap: wrap; }
.top .brand { color: #fff; font-weight: 700; font-size: 1.05rem; letter-spacing: .02em; }
.top .meta { color: #9ca3af; font-size: 12.5px; } .top .meta code { color: #e5e7eb; }
.top nav { display: flex; gap: .9rem; margin-left: auto; }
.top nav a { color: #cbd5e1; } .top nav a.current { color: #fff; font-weight: 600; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 4px; background: #374151; color: #e5e7eb; font-size: 12px; margin-right: .4rem; }
.pill { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: 12px; font-weight: 600; }
.pill.live { background: #dcfce7; color: var(--good); } .pill.down { background: #fee2e2; color: var(--bad); }
main { padding: 1rem 1.5rem 3rem; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.25rem; margin: .4rem 0 1rem; } h2 { font-size: .95rem; margin: 0 0 .5rem; color: #374151; }
h2 .count { color: var(--muted); font-weight: 400; margin-left: .3rem; }
section { margin-bottom: 1.4rem; }
.trail { font-size: 12.5px; color: var(--muted); margin-top: .3rem; }
.banner { background: #fee2e2; color: #7f1d1d; border-bottom: 1px solid #fca5a5; padding: .6rem 1.5rem; font-weight: 600; }
.flash { padding: .5rem 1.5rem; font-weight: 600; } .flash.ok { background: #dcfce7; color: #14532d; } .flash.bad { background: #fee2e2; color: #7f1d1d; } .flash.warn { background: #fef3c7; color: #78350f; }
.stale { opacity: .45; filter: grayscale(1); transition: opacity .2s; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .7rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; }
.card-value { font-size: 1.5rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card-label { color: var(--muted); font-size: 12.5px; }
.card.bad .card-value { color: var(--bad); } .card.good .card-value { color: var(--good); } .card.warn .card-value { color: var(--warn); }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.2rem; }
table.grid { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
.grid th, .grid td { padding: .38rem .7rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
.grid th { background: #f9fafb; font-weight: 600; font-size: 12px; color: #4b5563; text-transform: uppercase; letter-spacing: .03em; }
.grid tbody tr:hover { background: #f8fafc; } .grid tr.selected { background: #eff6ff; }
.num { text-align: right !important; font-variant-numeric: tabular-nums; white-space: nowrap; }
.empty, .muted { color: var(--muted); } .empty { text-align: center !important; padding: .8rem !important; }
.bad { color: var(--bad); font-weight: 600; } .warn { color: var(--warn); font-weight: 600; }
.note { color: #4b5563; margin: .4rem 0 .7rem; } .small { font-size: 12px; font-weight: 400; }
.error { color: var(--bad); max-width: 28rem; word-break: break-word; }
.payload code { word-break: break-all; } details.payload summary { cursor: pointer; }
details.payload pre { margin: .4rem 0 0; padding: .5rem; background: #f3f4f6; border-radius: 4px; max-height: 20rem; overflow: auto; }
details.payload .cut, .error .cut { display: block; margin-top: .3rem; color: #4b5563; font-style: italic; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 1rem; }
figure.chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .6rem .2rem; min-height: 230px; }
figure.chart figcaption { font-weight: 600; font-size: 12.5px; color: #374151; margin-bottom: .2rem; }
.actions { display: flex; gap: .5rem; margin: .4rem 0 .8rem; flex-wrap: wrap; }
button { font: inherit; padding: .3rem .8rem; border-radius: 6px; border: 1px solid #cbd5e1; background: #fff; cursor: pointer; }
button:hover { background: #f1f5f9; }
button.danger { border-color: #fca5a5; color: var(--bad); } button.danger:hover { background: #fef2f2; }
#confirm-ok { background: var(--bad); color: #fff; border-color: var(--bad); }
.confirm { position: fixed; inset: 0; background: rgba(17, 24, 39, .45); display: flex; align-items: center; justify-content: center; }
.confirm[hidden] { display: none; }
.confirm-box { background: #fff; border-radius: 10px; padding: 1.2rem 1.4rem; max-width: 32rem; box-shadow: 0 10px 30px rgba(0,0,0,.25); }
.confirm-buttons { display: flex; justify-content: flex-end; gap: .6rem; margin-top: 1rem; }
.pager { margin-top: .6rem; }
`
