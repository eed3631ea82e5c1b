-- fastmatch.hunt.html: the results summary as one self-contained HTML page
-- (--html-report FILE): inline style, no script, no image, no link out, so
-- that it opens the same anywhere, offline.  Written from summary:data(), as
-- the text summary is, so the two give the same numbers.  Each number also
-- has an id (total-critical, unique-high, events, ...) for whoever reads the
-- page by machine.

local Sm = require "fastmatch.hunt.summary"

local Ht = {}

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local function esc(s) return (tostring(s == nil and "" or s):gsub("[&<>\"']", ESC)) end
Ht.escape = esc

local n = Sm.number

local COLORS = { critical = "#c62828", high = "#ef6c00", medium = "#f9a825", low = "#2e7d32",
  informational = "#546e7a" }

local STYLE = [[
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f4f6f8;color:#1c2733}
header{background:#1c2733;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b0bec5;font-size:13px;word-break:break-all}
main{padding:20px 32px;max-width:1200px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px 20px;margin-bottom:18px}
h2{font-size:17px;margin:0 0 12px}
h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e7eb}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;font-size:14px}
.kv dt{color:#546e7a}.kv dd{margin:0}
.lvl{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:middle}
.bar{height:10px;border-radius:2px;min-width:1px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
ol{margin:4px 0 0;padding-left:22px;font-size:13px}
li{margin:2px 0}
.na{color:#90a4ae;font-style:italic}
]]

-- Ht.page(data, info) -> the page's text.  data: summary:data(); info:
-- { title=, command=, started=, elapsed=, inputs = {...}, rules_loaded=,
--   rules_chosen=, timeline= (where it was written) }
function Ht.page(d, info)
  info = info or {}
  local o = {}
  local function w(...) for i = 1, select("#", ...) do o[#o + 1] = select(i, ...) end end
  w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    "<title>", esc(info.title or "fastmatch-hunt results summary"), "</title><style>", STYLE, "</style></head><body>\n")
  w("<header><h1>fastmatch-hunt: Results Summary</h1>")
  if info.command then w("<p id=\"command\">", esc(info.command), "</p>") end
  w("</header>\n<main>\n")

  -- general overview
  w("<section id=\"overview\"><h2>General Overview</h2><dl class=\"kv\">")
  local function kv(label, id, value)
    w("<dt>", esc(label), "</dt><dd id=\"", id, "\">", value, "</dd>")
  end
  if info.started then kv("Analysis start", "started", esc(info.started)) end
  if info.elapsed then kv("Elapsed time", "elapsed", esc(info.elapsed)) end
  if info.inputs then kv("Inputs", "inputs", esc(table.concat(info.inputs, ", "))) end
  if info.rules_loaded then kv("Rules loaded", "rules-loaded", n(info.rules_loaded)) end
  if info.rules_chosen then kv("Rules selected", "rules-chosen", n(info.rules_chosen)) end
  if info.timeline then kv("Timeline", "timeline", esc(info.timeline)) end
  kv("First Timestamp", "first-timestamp", d.first and esc(d.first) or "<span class=\"na\">n/a</span>")
  kv("Last Timestamp", "last-timestamp", d.last and esc(d.last) or "<span class=\"na\">n/a</span>")
  kv("Events with hits", "events-with-hits", n(d.events_with_hits))
  kv("Total events", "events", n(d.events))
  kv("Data reduction", "reduction", ("%s events (%.2f%%)"):format(n(d.reduction), d.reduction_pct))
  w("</dl></section>\n")

  -- detections per level
  local most = 1
  for _, e in ipairs(d.levels) do if e.total > most then most = e.total end end
  w("<section id=\"detections\"><h2>Detections</h2><table><thead><tr><th>Level</th>",
    "<th class=\"num\">Total</th><th class=\"num\">%</th><th class=\"num\">Unique</th><th class=\"num\">%</th>",
    "<th style=\"width:35%\"></th><th>Date with most detections</th></tr></thead><tbody>")
  for _, e in ipairs(d.levels) do
    local c = COLORS[e.name] or "#777"
    w("<tr><td><span class=\"lvl\" style=\"background:", c, "\"></span>", esc(e.name), "</td>",
      "<td class=\"num\" id=\"total-", e.name, "\">", n(e.total), "</td>",
      ("<td class=\"num\">%.2f%%</td>"):format(e.total_pct),
      "<td class=\"num\" id=\"unique-", e.name, "\">", n(e.unique), "</td>",
      ("<td class=\"num\">%.2f%%</td>"):format(e.unique_pct),
      ("<td><div class=\"bar\" style=\"background:%s;width:%.1f%%\"></div></td>"):format(c, e.total * 100 / most),
      "<td id=\"date-", e.name, "\">", e.date and ("%s (%s)"):format(esc(e.date), n(e.date_n)) or "<span class=\"na\">n/a</span>",
      "</td></tr>")
  end
  w("</tbody><tfoot><tr><th>all</th><th class=\"num\" id=\"total-detections\">", n(d.total),
    "</th><th></th><th class=\"num\" id=\"unique-detections\">", n(d.unique), "</th><th></th><th></th><th></th></tr></tfoot></table></section>\n")

  -- computers and alerts, per level: all of them (the text summary shows the top ones)
  local function list(id, items, fmt)
    w("<ol id=\"", id, "\">")
    for _, it in ipairs(items) do
      local label, count = fmt(it)
      w("<li data-n=\"", ("%d"):format(count), "\">", esc(label), " (", n(count), ")</li>")
    end
    w("</ol>")
    if #items == 0 then w("<p class=\"na\">n/a</p>") end
  end
  w("<section id=\"computers\"><h2>Computers with most unique detections</h2><div class=\"grid\">")
  for _, e in ipairs(d.levels) do
    w("<div><h3><span class=\"lvl\" style=\"background:", COLORS[e.name], "\"></span>", esc(e.name), "</h3>")
    list("computers-" .. e.name, e.computers, function(c) return c[1], c[2] end)
    w("</div>")
  end
  w("</div></section>\n")
  w("<section id=\"alerts\"><h2>Top alerts</h2><div class=\"grid\">")
  for _, e in ipairs(d.levels) do
    w("<div><h3><span class=\"lvl\" style=\"background:", COLORS[e.name], "\"></span>Top ", esc(e.name), " alerts</h3>")
    list("alerts-" .. e.name, e.alerts, function(a) return a[1], a[2] end)
    w("</div>")
  end
  w("</div></section>\n</main></body></html>\n")
  return table.concat(o)
end

return Ht
