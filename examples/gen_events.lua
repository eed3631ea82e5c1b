-- gen_events.lua: a seeded stream of Windows events as evtx_dump JSONL, one
-- event a line, for hunt, bench_sigma and the in-run experiments.
--   lua5.4 examples/gen_events.lua --events N --seed S [--hits RATE] -o FILE
--   local G = dofile("examples/gen_events.lua"); G.write(path, {events=, seed=, hits=})
--
-- How the benign stream is made.  Each event takes the shape of one of the
-- Sigma regression events (a SigmaHQ checkout's regression_data/, M.sigmahq():
-- provider, channel, event id and EventData field names, weighted by how
-- often the shape occurs there), or of a built-in shape when that data is
-- absent.  Fields that say what ran or what was touched (images, command
-- lines, files, registry keys, users, hosts, addresses, script text) get
-- benign values from built-in lists (Windows system binaries, Office,
-- browsers, updaters, their usual arguments and paths); the other fields
-- (ids, integrity levels, versions, event types...) get a value of that
-- field drawn from the regression events, recombined freely; GUIDs and
-- hashes are random (the recorded hashes are malware's).  A share RATE
-- (default 0.001) of the events are instead real regression events, as
-- they were recorded (malicious: each was captured for a rule), with the
-- stream's computer, time and record number.  Deterministic for a seed:
-- own PRNG and JSON writer with a fixed key order (never pairs()).
local M = {}

local function here()
  local src = debug.getinfo(1, "S").source:match("^@(.*)$") or ""
  return src:match("^(.*)/[^/]*$") or "."
end

-- The SigmaHQ checkout (fastmatch.sigmahq: $SIGMA_DIR, $FM_SHARED or
-- ../shared beside the clone): -> t | nil, why.  The tree's own copy of
-- the locator, so that this file runs on any Lua without the tree's paths.
function M.sigmahq()
  local S = dofile(here() .. "/../lua/fastmatch/sigmahq.lua")
  return S.find({ root = here() .. "/.." })
end

-- ------------------------------------------------------------ PRNG
-- A 64-bit LCG (Knuth's MMIX constants), high bits out; Lua 5.4 integers
-- wrap, so this is the same sequence on every platform.
local function prng(seed)
  local s = (math.tointeger(seed) or 1) ~ 0x5DEECE66D
  local function r(n)
    s = s * 6364136223846793005 + 1442695040888963407
    local x = (s >> 33) & 0x7fffffff
    if n then return x % n + 1 end
    return x / 0x80000000
  end
  return r
end
M.prng = prng

-- ------------------------------------------------------------ JSON
local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ESC[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end
M.jstr = jstr

-- Keys in a fixed order: `order` first, then the rest sorted.
local SYSTEM_ORDER = { "Provider", "EventID", "Version", "Level", "Task", "Opcode", "Keywords",
  "TimeCreated", "EventRecordID", "Correlation", "Execution", "Channel", "Computer", "Security" }
local function jval(v, order)
  local t = type(v)
  if t == "string" then return jstr(v)
  elseif t == "number" then
    if math.type(v) == "integer" then return ("%d"):format(v) end
    return ("%.17g"):format(v)
  elseif t == "boolean" then return tostring(v)
  elseif v == nil or v == M.null then return "null"
  elseif t == "table" then
    if #v > 0 or next(v) == nil and getmetatable(v) == M.array_mt then
      local o = {}
      for i = 1, #v do o[i] = jval(v[i]) end
      return "[" .. table.concat(o, ",") .. "]"
    end
    local keys, seen = {}, {}
    for _, k in ipairs(order or {}) do
      if v[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
    end
    local rest = {}
    for k in pairs(v) do if not seen[k] then rest[#rest + 1] = tostring(k) end end
    table.sort(rest)
    for _, k in ipairs(rest) do keys[#keys + 1] = k end
    local o = {}
    for i, k in ipairs(keys) do o[i] = jstr(k) .. ":" .. jval(v[k]) end
    return "{" .. table.concat(o, ",") .. "}"
  end
  return "null"
end
M.json = jval
M.null = setmetatable({}, { __name = "json null" })

-- Split a file holding one or more JSON values one after another (the
-- regression files) into their texts.
function M.split_json(text)
  local out, depth, i, start, n = {}, 0, 1, nil, #text
  while i <= n do
    local p = text:find('[{}"%[%]]', i)
    if not p then break end
    local c = text:sub(p, p)
    if c == '"' then
      local q = p + 1
      while true do
        local e = text:find('["\\]', q)
        if not e then return out end
        if text:sub(e, e) == "\\" then q = e + 2 else q = e + 1; break end
      end
      i = q
    else
      if c == "{" or c == "[" then
        if depth == 0 then start = p end
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 and start then out[#out + 1] = text:sub(start, p); start = nil end
      end
      i = p + 1
    end
  end
  return out
end

-- ------------------------------------------------------------ the regression events
-- -> array of decoded events ({Event = {System=, EventData=}}), their files.
-- dir: a regression_data directory (default: the SigmaHQ checkout's).
function M.regression_events(dir)
  if not dir then
    local t, why = M.sigmahq()
    if not t then return nil, why end
    if not t.regression then return nil, "no regression_data/ in " .. t.dir end
    dir = t.regression
  end
  local ok, cjson = pcall(require, "cjson")
  if not ok then return nil, "lua-cjson is not installed" end
  local p = io.popen("find -L " .. ("'" .. dir:gsub("'", "'\\''") .. "'") ..
    " -name '*.json' 2>/dev/null | LC_ALL=C sort")
  local events, files = {}, {}
  for path in p:lines() do
    local f = io.open(path, "rb")
    if f then
      local text = f:read("a")
      f:close()
      for _, js in ipairs(M.split_json(text)) do
        local good, ev = pcall(cjson.decode, js)
        if good and type(ev) == "table" and type(ev.Event) == "table" and type(ev.Event.System) == "table" then
          events[#events + 1] = ev
          files[#events] = path
        end
      end
    end
  end
  p:close()
  if #events == 0 then return nil, "no regression events under " .. dir end
  return events, files, dir
end

-- ------------------------------------------------------------ benign values
local USERS = { "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
  "mallory.k", "oscar", "peggy", "trent", "victor", "walter", "svc_backup", "svc_sql" }
local HOSTS = {}
for i = 1, 40 do HOSTS[i] = ("WS-%04d.corp.example.com"):format(1000 + i * 37) end
for i = 1, 6 do HOSTS[#HOSTS + 1] = ("SRV-APP%02d.corp.example.com"):format(i) end
local SYS32 = "C:\\Windows\\System32\\"
-- { image, its usual arguments, its usual parent }: parent and child agree,
-- as on a real machine (random pairs trip the SigmaHQ parent/child rules)
local EXPLORER = "C:\\Windows\\explorer.exe"
local SERVICES = SYS32 .. "services.exe"
local SVCHOST = SYS32 .. "svchost.exe"
local BENIGN_EXE = {
  { SYS32 .. "svchost.exe", { "-k netsvcs -p -s Schedule", "-k LocalServiceNetworkRestricted -p", "-k DcomLaunch -p", "-k NetworkService -p -s Dnscache" }, SERVICES },
  { SYS32 .. "RuntimeBroker.exe", { "-Embedding" }, SVCHOST },
  { SYS32 .. "taskhostw.exe", { "" }, SVCHOST },
  { SYS32 .. "SearchProtocolHost.exe", { "Global\\UsGthrFltPipeMssGthrPipe1_ Global\\UsGthrCtrlFltPipeMssGthrPipe1 1 -2147483646" }, SYS32 .. "SearchIndexer.exe" },
  { SYS32 .. "backgroundTaskHost.exe", { "-ServerName:BackgroundTaskHost.WebAccountProvider" }, SVCHOST },
  { SYS32 .. "notepad.exe", { "C:\\Users\\%u\\Documents\\notes-%n.txt" }, EXPLORER },
  { "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE", { "/n \"C:\\Users\\%u\\Documents\\Quarterly report %n.docx\"" }, EXPLORER },
  { "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE", { "\"C:\\Users\\%u\\Documents\\budget-%n.xlsx\"" }, EXPLORER },
  { "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE", { "/recycle" }, EXPLORER },
  { "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", { "--type=renderer --lang=en-US --renderer-client-id=%n", "--type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US" }, "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" },
  { "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", { "--type=gpu-process --gpu-preferences=UAAAAAAAAADgAAAYAAAAAAAAAAAAAAAAAABgAAAAAAAwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--single-argument https://intranet.corp.example.com/" }, EXPLORER },
  { "C:\\Program Files\\Mozilla Firefox\\firefox.exe", { "-contentproc -childID %n -isForBrowser" }, "C:\\Program Files\\Mozilla Firefox\\firefox.exe" },
  { "C:\\Program Files\\Microsoft VS Code\\Code.exe", { "C:\\Users\\%u\\src\\project%n" }, EXPLORER },
  { "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe", { "" }, SERVICES },
  { "C:\\Program Files\\7-Zip\\7zFM.exe", { "\"C:\\Users\\%u\\Downloads\\photos-%n.7z\"" }, EXPLORER },
  { "C:\\Program Files\\Git\\cmd\\git.exe", { "fetch --all --prune", "status --porcelain" }, "C:\\Program Files\\Microsoft VS Code\\Code.exe" },
  { "C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat\\Acrobat.exe", { "\"C:\\Users\\%u\\Downloads\\invoice-%n.pdf\"" }, EXPLORER },
}
local DOCS = { "Documents\\notes-%n.txt", "Documents\\Quarterly report %n.docx", "Downloads\\photos-%n.jpg",
  "AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\f_%n", "Pictures\\IMG_%n.jpg" }
local REGKEYS = { "HKU\\S-1-5-21-%n\\Software\\Microsoft\\Office\\16.0\\Common\\Roaming\\Identities\\%n",
  "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\LastOnlineScanTimeForAppCategory",
  "HKU\\S-1-5-21-%n\\Software\\Google\\Chrome\\PreferenceMACs\\Default\\homepage",
  "HKLM\\SYSTEM\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\S-1-5-21-%n\\Device",
  "HKU\\S-1-5-21-%n\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\.docx" }
local DETAILS = { "DWORD (0x00000001)", "DWORD (0x00000000)", "QWORD (0x01db2f6e-0x8a6a7c00)", "Binary Data", "C:\\Users\\%u\\Documents" }
local DOMAINS = { "intranet.corp.example.com", "www.microsoft.com", "update.googleapis.com", "login.microsoftonline.com",
  "outlook.office365.com", "cdn.example.net", "teams.microsoft.com", "github.com" }
local SCRIPTS = { "Get-ChildItem -Path C:\\Users\\%u\\Documents -Filter *.docx | Select-Object Name, Length",
  "Import-Module ActiveDirectory; Get-ADUser -Identity %u -Properties LastLogonDate",
  "$d = Get-Date; Write-Output \"Backup job %n started at $d\"",
  "Get-Service -Name Spooler | Restart-Service -Force" }

local function fill(r, s, user)
  return (s:gsub("%%u", user):gsub("%%n", function() return tostring(r(99999)) end))
end

-- A benign value for a field by its name, or nil (then a recombined one).
local function benign(r, name, user, exe, cmd, parent)
  if name == "Image" or name == "NewProcessName" or name == "SourceImage" or name == "TargetImage"
      or name == "Application" or name == "ProcessName" then
    return exe
  elseif name == "ParentImage" or name == "ParentProcessName" then
    return parent
  elseif name == "CommandLine" or name == "ProcessCommandLine" then
    return cmd
  elseif name == "ParentCommandLine" then
    return ('"%s"'):format(parent)
  elseif name == "GrantedAccess" then
    return "0x1000"
  elseif name == "ImageLoaded" then
    return SYS32 .. ({ "ntdll.dll", "kernel32.dll", "user32.dll", "combase.dll", "msvcrt.dll", "bcrypt.dll" })[r(6)]
  elseif name == "TargetFilename" or name == "FileName" or name == "ObjectName" or name == "Path" then
    return fill(r, "C:\\Users\\%u\\" .. DOCS[r(#DOCS)], user)
  elseif name == "CurrentDirectory" then
    return fill(r, "C:\\Users\\%u\\", user)
  elseif name == "TargetObject" then
    return fill(r, REGKEYS[r(#REGKEYS)], user)
  elseif name == "Details" then
    return fill(r, DETAILS[r(#DETAILS)], user)
  elseif name == "User" or name == "ParentUser" or name == "SourceUser" or name == "TargetUser" then
    return "CORP\\" .. user
  elseif name == "SubjectUserName" or name == "TargetUserName" or name == "UserName" or name == "AccountName" then
    return user
  elseif name == "SubjectDomainName" or name == "TargetDomainName" then
    return "CORP"
  elseif name == "QueryName" or name == "DestinationHostname" or name == "FQDN" or name == "TargetServerName" then
    return DOMAINS[r(#DOMAINS)]
  elseif name == "DestinationIp" or name == "SourceIp" or name == "IpAddress" then
    return ("10.%d.%d.%d"):format(r(255) - 1, r(255) - 1, r(254))
  elseif name == "ScriptBlockText" or name == "Payload" or name == "ContextInfo" then
    return fill(r, SCRIPTS[r(#SCRIPTS)], user)
  elseif name == "TaskName" then
    return fill(r, "\\Example\\Nightly backup %n", user)
  elseif name == "TaskContent" or name == "Configuration" or name == "CallTrace" then
    return "benign"
  elseif name == "Signature" then
    return "Microsoft Windows"
  elseif name == "OriginalFileName" then
    return exe:match("([^\\]+)$")
  elseif name == "Company" then
    return exe:find("Windows", 1, true) and "Microsoft Corporation" or "Example Software Ltd."
  elseif name == "Description" or name == "Product" then
    return (exe:match("([^\\]+)%.[^.]*$") or exe) .. (name == "Product" and " (Example)" or " application")
  elseif name == "Hashes" or name == "Hash" then
    -- random, not recombined: the regression events' hashes are malware's
    local function hex(k)
      local o = {}
      for j = 1, k // 8 do o[j] = ("%08X"):format(r(0x7fffffff)) end
      return table.concat(o)
    end
    return "SHA1=" .. hex(40) .. ",MD5=" .. hex(32) .. ",SHA256=" .. hex(64) .. ",IMPHASH=" .. hex(32)
  end
  return nil
end

-- Built-in shapes when the regression data is absent.
local BUILTIN_SHAPES = {
  { w = 60, provider = "Microsoft-Windows-Sysmon", channel = "Microsoft-Windows-Sysmon/Operational", id = 1,
    fields = { "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "FileVersion", "Description", "Product",
      "Company", "OriginalFileName", "CommandLine", "CurrentDirectory", "User", "LogonGuid", "LogonId",
      "TerminalSessionId", "IntegrityLevel", "Hashes", "ParentProcessGuid", "ParentProcessId", "ParentImage",
      "ParentCommandLine", "ParentUser" } },
  { w = 15, provider = "Microsoft-Windows-Sysmon", channel = "Microsoft-Windows-Sysmon/Operational", id = 11, files = true,
    fields = { "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetFilename", "CreationUtcTime", "User" } },
  { w = 15, provider = "Microsoft-Windows-Sysmon", channel = "Microsoft-Windows-Sysmon/Operational", id = 13,
    fields = { "RuleName", "EventType", "UtcTime", "ProcessGuid", "ProcessId", "Image", "TargetObject", "Details", "User" } },
  { w = 5, provider = "Microsoft-Windows-Security-Auditing", channel = "Security", id = 4624,
    fields = { "SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId", "TargetUserName",
      "TargetDomainName", "LogonType", "IpAddress", "IpPort", "ProcessName" } },
  { w = 5, provider = "Microsoft-Windows-PowerShell", channel = "Microsoft-Windows-PowerShell/Operational", id = 4104,
    fields = { "MessageNumber", "MessageTotal", "ScriptBlockText", "ScriptBlockId", "Path" } },
}
local BUILTIN_POOL = {
  RuleName = { "-" }, IntegrityLevel = { "Medium", "High", "System" }, TerminalSessionId = { 0, 1 },
  FileVersion = { "10.0.19041.1 (WinBuild.160101.0800)" }, Description = { "Host Process for Windows Services" },
  Product = { "Microsoft® Windows® Operating System" }, Company = { "Microsoft Corporation" },
  OriginalFileName = { "svchost.exe" }, EventType = { "SetValue" }, LogonType = { 2, 3, 5, 10 },
  MessageNumber = { 1 }, MessageTotal = { 1 }, IpPort = { "0", "49733" },
}

-- A few malicious events of our own, for when the regression events are
-- absent (the in-run experiments' built-in rules fire on them).
function M.builtin_malicious()
  local function ev(id, data)
    return { Event = { System = { Provider = { ["#attributes"] = { Name = "Microsoft-Windows-Sysmon" } },
      EventID = id, Channel = "Microsoft-Windows-Sysmon/Operational", Computer = "x" }, EventData = data } }
  end
  local cmd = SYS32 .. "cmd.exe"
  return {
    ev(1, { Image = SYS32 .. "whoami.exe", CommandLine = "whoami /priv", ParentImage = cmd, User = "CORP\\mallory" }),
    ev(1, { Image = SYS32 .. "WindowsPowerShell\\v1.0\\powershell.exe", ParentImage = cmd,
            CommandLine = "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA" }),
    ev(1, { Image = "C:\\Users\\Public\\mimikatz.exe", CommandLine = "mimikatz.exe privilege::debug sekurlsa::logonpasswords exit",
            ParentImage = cmd }),
    ev(1, { Image = SYS32 .. "rundll32.exe", CommandLine = "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\Temp\\lsass.dmp full",
            ParentImage = cmd }),
    ev(11, { Image = SYS32 .. "rundll32.exe", TargetFilename = "C:\\Temp\\lsass.dmp" }),
    ev(13, { Image = SYS32 .. "reg.exe", EventType = "SetValue",
             TargetObject = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\updater",
             Details = "C:\\Users\\Public\\updater.exe" }),
  }
end

-- ------------------------------------------------------------ the model
-- M.model([dir]) -> model: shapes, value pools, malicious events (encoded);
-- dir as M.regression_events takes it
function M.model(dir)
  local events, why, from = M.regression_events(dir)
  local m = { shapes = {}, pool = {}, malicious = {}, source = nil }
  if not events then
    m.shapes, m.pool = BUILTIN_SHAPES, BUILTIN_POOL
    m.malicious = M.builtin_malicious()
    m.source = "built-in shapes (" .. tostring(why) .. ")"
    m.total_w = 0
    for _, s in ipairs(m.shapes) do m.total_w = m.total_w + s.w end
    return m
  end
  local byshape, order = {}, {}
  for _, ev in ipairs(events) do
    local sys = ev.Event.System
    local prov = type(sys.Provider) == "table" and sys.Provider["#attributes"] and sys.Provider["#attributes"].Name or "?"
    local ed = type(ev.Event.EventData) == "table" and ev.Event.EventData or {}
    local names = {}
    for k, v in pairs(ed) do
      if type(v) ~= "table" then
        names[#names + 1] = k
        local p = m.pool[k]
        if not p then p = { seen = {} }; m.pool[k] = p end
        if not p.seen[v] then p.seen[v] = true; p[#p + 1] = v end
      end
    end
    table.sort(names)
    local key = prov .. "\0" .. tostring(sys.Channel) .. "\0" .. tostring(sys.EventID) .. "\0" .. table.concat(names, ",")
    local s = byshape[key]
    if not s then
      local eid = sys.EventID
      if type(eid) == "table" then eid = eid["#text"] end
      s = { w = 0, provider = prov, channel = sys.Channel, id = eid, fields = names,
            version = sys.Version, level = sys.Level, task = sys.Task, keywords = sys.Keywords }
      byshape[key] = s
      order[#order + 1] = key
    end
    s.w = s.w + 1
    for _, nm in ipairs(names) do if nm == "TargetFilename" then s.files = true end end
    -- Sysmon's own configuration events fire a rule whatever they hold
    if s.provider == "Microsoft-Windows-Sysmon" and (math.tointeger(s.id) == 16 or math.tointeger(s.id) == 4) then s.w = 0 end
    m.malicious[#m.malicious + 1] = ev
  end
  table.sort(order) -- pairs() order is not stable across runs; sorted keys are
  for _, k in ipairs(order) do
    if byshape[k].w > 0 then m.shapes[#m.shapes + 1] = byshape[k] end
  end
  for _, p in pairs(m.pool) do
    p.seen = nil
    table.sort(p, function(a, b) return tostring(a) < tostring(b) end)
  end
  -- the built-in shapes too, so a logon or a script block shows up now and then
  for i = 4, #BUILTIN_SHAPES do m.shapes[#m.shapes + 1] = BUILTIN_SHAPES[i] end
  for k, v in pairs(BUILTIN_POOL) do if not m.pool[k] then m.pool[k] = v end end
  m.total_w = 0
  for _, s in ipairs(m.shapes) do m.total_w = m.total_w + s.w end
  m.source = ("%d regression events (%d shapes) from %s"):format(#events, #m.shapes, from)
  return m
end

-- the seconds part changes every few events: os.date once per second
local iso_sec, iso_txt
local function iso(t)
  local sec = t // 1000000
  if sec ~= iso_sec then iso_sec, iso_txt = sec, os.date("!%Y-%m-%dT%H:%M:%S", sec) end
  return iso_txt .. (".%06dZ"):format(t % 1000000)
end

local function guid(r)
  return ("{%08X-%04X-%04X-%04X-%04X%08X}"):format(r(0x7fffffff), r(0xffff) - 1, r(0xffff) - 1, r(0xffff) - 1,
    r(0xffff) - 1, r(0x7fffffff))
end

-- M.generator(model, opts) -> next(): the JSON text of the next event, and
-- whether it is a real (malicious) regression event.
-- opts: seed, hits (share of real events, default 0.001), start (epoch s).
function M.generator(model, opts)
  opts = opts or {}
  local r = prng(opts.seed or 1)
  local hits = opts.hits or 0.001
  local t = (opts.start or 1793491200) * 1000000 -- 2026-11-01T00:00:00Z, in us
  local rec = 100000
  local shapes, total = model.shapes, model.total_w
  local cum = {}
  local acc = 0
  for i, s in ipairs(shapes) do acc = acc + s.w; cum[i] = acc end
  local function pick_shape()
    local x = r(total)
    local lo, hi = 1, #cum
    while lo < hi do
      local mid = (lo + hi) // 2
      if cum[mid] >= x then hi = mid else lo = mid + 1 end
    end
    return shapes[lo]
  end
  local mal = model.malicious
  -- JSON of what repeats, made once: '"Name":' and each pooled value
  local key = setmetatable({}, { __index = function(t, k) local v = jstr(k) .. ":"; t[k] = v; return v end })
  local pooled = setmetatable({}, { __mode = "k", __index = function(t, p)
    local v = {}
    for i, x in ipairs(p) do v[i] = jval(x) end
    t[p] = v
    return v
  end })
  return function()
    t = t + r(200000) -- up to 0.2 s between events
    rec = rec + 1
    local host = HOSTS[r(#HOSTS)]
    if #mal > 0 and hits > 0 and r() < hits then
      local ev = mal[r(#mal)]
      local sys = {}
      for k, v in pairs(ev.Event.System) do sys[k] = v end
      sys.Computer = host
      sys.EventRecordID = rec
      sys.TimeCreated = { ["#attributes"] = { SystemTime = iso(t) } }
      local e = {}
      for k, v in pairs(ev.Event) do e[k] = v end
      e.System = sys
      return '{"Event":' .. M.json_event(e) .. "}", true
    end
    local s = pick_shape()
    local user = USERS[r(#USERS)]
    local be = BENIGN_EXE[r(#BENIGN_EXE)]
    if s.files then -- system binaries writing user files trip rules: apps write them
      while be[1]:find(SYS32, 1, true) do be = BENIGN_EXE[r(#BENIGN_EXE)] end
    end
    local exe = fill(r, be[1], user)
    local parent = be[3]
    local args = be[2][r(#be[2])]
    local cmd = args == "" and ('"%s"'):format(exe) or fill(r, ('"%s" %s'):format(exe, args), user)
    local parts = {}
    local now = iso(t)
    for i, name in ipairs(s.fields) do
      local v = benign(r, name, user, exe, cmd, parent)
      local js
      if v == nil then
        if name == "UtcTime" or name == "CreationUtcTime" then
          v = now:gsub("T", " "):sub(1, 23)
        elseif name:match("Guid$") or name:match("GUID$") then
          v = guid(r)
        else
          local p = model.pool[name]
          if p and #p > 0 then js = pooled[p][r(#p)] else v = "-" end
        end
      end
      parts[i] = key[name] .. (js or jval(v))
    end
    local sys = ('{"Provider":{"#attributes":{"Name":%s}},"EventID":%s,"Version":%s,"Level":%s,"Task":%s,"Keywords":%s,'
      .. '"TimeCreated":{"#attributes":{"SystemTime":"%s"}},"EventRecordID":%d,"Channel":%s,"Computer":%s}'):format(
      jstr(s.provider), jval(s.id), jval(s.version or 2), jval(s.level or 4), jval(s.task or 0),
      jval(s.keywords or "0x8000000000000000"), now, rec, jstr(s.channel), jstr(host))
    return '{"Event":{"System":' .. sys .. ',"EventData":{' .. table.concat(parts, ",") .. "}}}", false
  end
end

-- An event table ({System=, EventData=, ...}) as JSON, System's keys first
-- in evtx_dump's order.
function M.json_event(e)
  local o = {}
  local keys = {}
  for k in pairs(e) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if a == "System" or b == "System" then return a == "System" end
    return a < b
  end)
  for _, k in ipairs(keys) do
    o[#o + 1] = jstr(k) .. ":" .. (k == "System" and jval(e[k], SYSTEM_ORDER) or jval(e[k]))
  end
  return "{" .. table.concat(o, ",") .. "}"
end

-- M.write(path, opts) -> stats {events=, malicious=, bytes=, seconds=, source=}
-- opts: events, seed, hits, model (reuse one), progress (function(i, n)).
function M.write(path, opts)
  opts = opts or {}
  local fm = require "fastmatch"
  local n = opts.events or 100000
  local model = opts.model or M.model()
  local nxt = M.generator(model, opts)
  local w, err = fm.writer(path)
  if not w then return nil, err end
  local t0, mal = fm.now(), 0
  for i = 1, n do
    local line, m = nxt()
    if m then mal = mal + 1 end
    w:write(line, "\n")
    if opts.progress and i % 100000 == 0 then opts.progress(i, n) end
  end
  local ok, e2 = w:close()
  if not ok then return nil, e2 end
  return { events = n, malicious = mal, bytes = w:bytes(), seconds = fm.now() - t0, source = model.source }
end

-- ------------------------------------------------------------ command line
local function main(argv)
  local opts, out = { events = 100000, seed = 1, hits = 0.001 }, nil
  local i = 1
  local function usage(msg)
    io.stderr:write((msg and ("gen_events: " .. msg .. "\n") or "") ..
      "usage: lua5.4 examples/gen_events.lua --events N --seed S [--hits RATE] -o FILE\n")
    os.exit(2)
  end
  while argv[i] do
    local a = argv[i]
    local function val() i = i + 1; return argv[i] or usage(a .. " needs a value") end
    if a == "--events" or a == "-n" then opts.events = math.tointeger(tonumber(val())) or usage("bad --events")
    elseif a == "--seed" then opts.seed = math.tointeger(tonumber(val())) or usage("bad --seed")
    elseif a == "--hits" then opts.hits = tonumber(val()) or usage("bad --hits")
    elseif a == "-o" or a == "--output" then out = val()
    elseif a == "-h" or a == "--help" then usage()
    else usage("unknown argument " .. a) end
    i = i + 1
  end
  if not out then usage("-o FILE is required (\"-\" for stdout)") end
  if opts.hits < 0 or opts.hits > 1 then usage("--hits is a share between 0 and 1") end
  opts.progress = function(k, n)
    io.stderr:write(("\rgen_events: %d/%d events"):format(k, n))
  end
  local st, err = M.write(out, opts)
  if not st then io.stderr:write("gen_events: ", tostring(err), "\n"); os.exit(1) end
  io.stderr:write(("\rgen_events: %d events (%d real regression events), %.1f MB in %.1f s, seed %d; %s\n"):format(
    st.events, st.malicious, st.bytes / 1e6, st.seconds, opts.seed, st.source))
end

-- run as a script (not through dofile/require from another file)
-- (a main chunk has only the interpreter's C frame above it; dofile and
-- require put the caller's Lua frame one level further up)
if debug.getinfo(3, "S") == nil then
  dofile(here() .. "/tree_path.lua")
  main(arg)
end

return M
