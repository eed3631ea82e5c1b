-- fastmatch.sigma.logsource: which events a rule's logsource means.
--
-- A mapping is in the format of THOR's / SigmaHQ CI's thor.yml: named entries
-- with selectors (category, product, service), `conditions` (event fields and
-- their allowed values), `sources` ("WinEventLog:<Channel>"), a `rewrite` to
-- another logsource (a category is a service's event ids) and `fieldmappings`
-- (rule field -> event field). Resolving a rule's logsource gives its variants:
-- each an AND of field conditions plus renames; a rule applies under any of
-- them (process_creation is Sysmon 1 or Security 4688).

local event = require "fastmatch.sigma.event"
local unpack = table.unpack or unpack

local M = {}

-- The facts of SigmaHQ's tests/thor.yml for Windows (its revision in
-- ../shared/data/sigma/sigmahq/REVISION), so that an engine works with no config.
M.windows = { logsources = {
  ["clipboard_change"] = { category = "clipboard_change", conditions = { EventID = 24 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["create_remote_thread"] = { category = "create_remote_thread", conditions = { EventID = 8 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["create_stream_hash"] = { category = "create_stream_hash", conditions = { EventID = 15 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["dns_query"] = { category = "dns_query", conditions = { EventID = 22 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["driver_loaded"] = { category = "driver_load", conditions = { EventID = 6 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_block_executable"] = { category = "file_block_executable", conditions = { EventID = 27 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_block_shredding"] = { category = "file_block_shredding", conditions = { EventID = 28 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_change"] = { category = "file_change", conditions = { EventID = 2 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_creation"] = { category = "file_event", conditions = { EventID = 11 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_delete"] = { category = "file_delete", conditions = { EventID = 23 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_delete_detected"] = { category = "file_delete_detected", conditions = { EventID = 26 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["file_executable_detected"] = { category = "file_executable_detected", conditions = { EventID = 29 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["image_loaded"] = { category = "image_load", conditions = { EventID = 7 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["network_connection"] = { category = "network_connection", conditions = { EventID = 3 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["pipe_created1"] = { category = "pipe_created", conditions = { EventID = 17 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["pipe_created2"] = { category = "pipe_created", conditions = { EventID = 18 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["process_access"] = { category = "process_access", conditions = { EventID = 10 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["process_creation_1"] = { category = "process_creation", conditions = { EventID = 1 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["process_creation_2"] = { category = "process_creation", conditions = { EventID = 4688 }, fieldmappings = { Image = "NewProcessName", ParentImage = "ParentProcessName" }, product = "windows", rewrite = { product = "windows", service = "security" } },
  ["process_tampering"] = { category = "process_tampering", conditions = { EventID = 25 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["process_terminated"] = { category = "process_termination", conditions = { EventID = 5 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["ps_classic_provider_start"] = { category = "ps_classic_provider_start", conditions = { EventID = 600 }, product = "windows", rewrite = { product = "windows", service = "powershell-classic" } },
  ["ps_classic_script"] = { category = "ps_classic_script", conditions = { EventID = 800 }, product = "windows", rewrite = { product = "windows", service = "powershell-classic" } },
  ["ps_classic_start"] = { category = "ps_classic_start", conditions = { EventID = 400 }, product = "windows", rewrite = { product = "windows", service = "powershell-classic" } },
  ["ps_module"] = { category = "ps_module", conditions = { EventID = 4103 }, product = "windows", rewrite = { product = "windows", service = "powershell" } },
  ["ps_script"] = { category = "ps_script", conditions = { EventID = 4104 }, product = "windows", rewrite = { product = "windows", service = "powershell" } },
  ["raw_access_thread"] = { category = "raw_access_thread", conditions = { EventID = 9 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_add"] = { category = "registry_add", conditions = { EventID = 12, EventType = "CreateKey" }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_delete_key"] = { category = "registry_delete", conditions = { EventID = 12, EventType = "DeleteKey" }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_delete_value"] = { category = "registry_delete", conditions = { EventID = 12, EventType = "DeleteValue" }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_event1"] = { category = "registry_event", conditions = { EventID = 12 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_event2"] = { category = "registry_event", conditions = { EventID = 13 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_event3"] = { category = "registry_event", conditions = { EventID = 14 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_rename"] = { category = "registry_rename", conditions = { EventID = 14 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["registry_set"] = { category = "registry_set", conditions = { EventID = 13 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["sysmon_error"] = { category = "sysmon_error", conditions = { EventID = 255 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["sysmon_status1"] = { category = "sysmon_status", conditions = { EventID = 4 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["sysmon_status2"] = { category = "sysmon_status", conditions = { EventID = 16 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["windows-application"] = { product = "windows", service = "application", sources = { "WinEventLog:Application" } },
  ["windows-application-experience"] = { product = "windows", service = "application-experience", sources = { "WinEventLog:Microsoft-Windows-Application-Experience/Program-Telemetry", "WinEventLog:Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant" } },
  ["windows-applocker"] = { product = "windows", service = "applocker", sources = { "WinEventLog:Microsoft-Windows-AppLocker/MSI and Script", "WinEventLog:Microsoft-Windows-AppLocker/EXE and DLL", "WinEventLog:Microsoft-Windows-AppLocker/Packaged app-Deployment", "WinEventLog:Microsoft-Windows-AppLocker/Packaged app-Execution" } },
  ["windows-appmodel-runtime"] = { product = "windows", service = "appmodel-runtime", sources = { "WinEventLog:Microsoft-Windows-AppModel-Runtime/Admin" } },
  ["windows-appxdeployment-server"] = { product = "windows", service = "appxdeployment-server", sources = { "WinEventLog:Microsoft-Windows-AppXDeploymentServer/Operational" } },
  ["windows-appxpackaging-om"] = { product = "windows", service = "appxpackaging-om", sources = { "WinEventLog:Microsoft-Windows-AppxPackaging/Operational" } },
  ["windows-bitlocker"] = { product = "windows", service = "bitlocker", sources = { "WinEventLog:Microsoft-Windows-BitLocker/BitLocker Management" } },
  ["windows-bits-client"] = { product = "windows", service = "bits-client", sources = { "WinEventLog:Microsoft-Windows-Bits-Client/Operational" } },
  ["windows-capi2"] = { product = "windows", service = "capi2", sources = { "WinEventLog:Microsoft-Windows-CAPI2/Operational" } },
  ["windows-certificateservicesclient-lifecycle"] = { product = "windows", service = "certificateservicesclient-lifecycle-system", sources = { "WinEventLog:Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational" } },
  ["windows-classicpowershell"] = { product = "windows", service = "powershell-classic", sources = { "WinEventLog:Windows PowerShell" } },
  ["windows-codeintegrity-operational"] = { product = "windows", service = "codeintegrity-operational", sources = { "WinEventLog:Microsoft-Windows-CodeIntegrity/Operational" } },
  ["windows-defender"] = { product = "windows", service = "windefend", sources = { "WinEventLog:Microsoft-Windows-Windows Defender/Operational" } },
  ["windows-defender-antivirus-mapping"] = { category = "antivirus", conditions = { EventID = { 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1017, 1018, 1019, 1115, 1116 } }, fieldmappings = { Filename = "Path", Signature = "ThreatName" }, rewrite = { product = "windows", service = "windefend" } },
  ["windows-dhcp"] = { product = "windows", service = "dhcp", sources = { "WinEventLog:Microsoft-Windows-DHCP-Server/Operational" } },
  ["windows-diagnosis"] = { product = "windows", service = "diagnosis-scripted", sources = { "WinEventLog:Microsoft-Windows-Diagnosis-Scripted/Operational" } },
  ["windows-dns-client"] = { product = "windows", service = "dns-client", sources = { "WinEventLog:Microsoft-Windows-DNS Client Events/Operational" } },
  ["windows-firewall-advanced-security"] = { product = "windows", service = "firewall-as", sources = { "WinEventLog:Microsoft-Windows-Windows Firewall With Advanced Security/Firewall" } },
  ["windows-hyper-v-worker"] = { product = "windows", service = "hyper-v-worker", sources = { "WinEventLog:Microsoft-Windows-Hyper-V-Worker" } },
  ["windows-iis-configuration"] = { product = "windows", service = "iis-configuration", sources = { "WinEventLog:Microsoft-IIS-Configuration/Operational" } },
  ["windows-kernel-event-tracing"] = { product = "windows", service = "kernel-event-tracing", sources = { "WinEventLog:Microsoft-Windows-Kernel-EventTracing" } },
  ["windows-kernel-shimengine"] = { product = "windows", service = "kernel-shimengine", sources = { "WinEventLog:Microsoft-Windows-Kernel-ShimEngine/Operational", "WinEventLog:Microsoft-Windows-Kernel-ShimEngine/Diagnostic" } },
  ["windows-ldap-debug"] = { product = "windows", service = "ldap", sources = { "WinEventLog:Microsoft-Windows-LDAP-Client/Debug" } },
  ["windows-lsa-server"] = { product = "windows", service = "lsa-server", sources = { "WinEventLog:Microsoft-Windows-LSA/Operational" } },
  ["windows-msexchange-management"] = { product = "windows", service = "msexchange-management", sources = { "WinEventLog:MSExchange Management" } },
  ["windows-ntfs"] = { product = "windows", service = "ntfs", sources = { "WinEventLog:Microsoft-Windows-Ntfs/Operational" } },
  ["windows-ntlm"] = { product = "windows", service = "ntlm", sources = { "WinEventLog:Microsoft-Windows-NTLM/Operational" } },
  ["windows-openssh"] = { product = "windows", service = "openssh", sources = { "WinEventLog:OpenSSH/Operational" } },
  ["windows-powershell"] = { product = "windows", service = "powershell", sources = { "WinEventLog:Microsoft-Windows-PowerShell/Operational", "WinEventLog:PowerShellCore/Operational" } },
  ["windows-printservice-admin"] = { product = "windows", service = "printservice-admin", sources = { "WinEventLog:Microsoft-Windows-PrintService/Admin" } },
  ["windows-printservice-operational"] = { product = "windows", service = "printservice-operational", sources = { "WinEventLog:Microsoft-Windows-PrintService/Operational" } },
  ["windows-security"] = { product = "windows", service = "security", sources = { "WinEventLog:Security" } },
  ["windows-security-mitigations"] = { product = "windows", service = "security-mitigations", sources = { "WinEventLog:Microsoft-Windows-Security-Mitigations/Kernel Mode", "WinEventLog:Microsoft-Windows-Security-Mitigations/User Mode" } },
  ["windows-sense"] = { product = "windows", service = "sense", sources = { "WinEventLog:Microsoft-Windows-SENSE/Operational" } },
  ["windows-servicebus"] = { product = "windows", service = "servicebus-client", sources = { "WinEventLog:Microsoft-ServiceBus-Client/Admin", "WinEventLog:Microsoft-ServiceBus-Client/Operational" } },
  ["windows-shell-core"] = { product = "windows", service = "shell-core", sources = { "WinEventLog:Microsoft-Windows-Shell-Core/Operational" } },
  ["windows-smbclient-connectivity"] = { product = "windows", service = "smbclient-connectivity", sources = { "WinEventLog:Microsoft-Windows-SmbClient/Connectivity" } },
  ["windows-smbclient-security"] = { product = "windows", service = "smbclient-security", sources = { "WinEventLog:Microsoft-Windows-SmbClient/Security" } },
  ["windows-smbserver-connectivity"] = { product = "windows", service = "smbserver-connectivity", sources = { "WinEventLog:Microsoft-Windows-SMBServer/Connectivity" } },
  ["windows-sysmon"] = { product = "windows", service = "sysmon", sources = { "WinEventLog:Microsoft-Windows-Sysmon/Operational" } },
  ["windows-system"] = { product = "windows", service = "system", sources = { "WinEventLog:System" } },
  ["windows-taskscheduler"] = { product = "windows", service = "taskscheduler", sources = { "WinEventLog:Microsoft-Windows-TaskScheduler/Operational" } },
  ["windows-terminalservices-localsessionmanager-operational"] = { product = "windows", service = "terminalservices-localsessionmanager", sources = { "WinEventLog:Microsoft-Windows-TerminalServices-LocalSessionManager/Operational" } },
  ["windows-vhdmp"] = { product = "windows", service = "vhdmp", sources = { "WinEventLog:Microsoft-Windows-VHDMP/Operational" } },
  ["windows-wmi"] = { product = "windows", service = "wmi", sources = { "WinEventLog:Microsoft-Windows-WMI-Activity/Operational" } },
  ["wmi_event1"] = { category = "wmi_event", conditions = { EventID = 19 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["wmi_event2"] = { category = "wmi_event", conditions = { EventID = 20 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
  ["wmi_event3"] = { category = "wmi_event", conditions = { EventID = 21 }, product = "windows", rewrite = { product = "windows", service = "sysmon" } },
} }

local lower = string.lower

-- Text of a condition value as events carry it (numbers as decimal text).
local function text(v)
  if type(v) == "number" then return event.number_text(v) end
  return tostring(v)
end
M.text = text

local function list(v)
  if v == nil then return {} end
  if type(v) == "table" and #v > 0 then return v end
  return { v }
end

-- sigmac's reading: every selector an entry names must be in the rule's
-- logsource with the same value, and an entry must name at least one.
local function selects(entry, ls)
  local named = 0
  for _, k in ipairs { "category", "product", "service" } do
    local want = entry[k]
    if want ~= nil then
      local have = ls[k]
      if have == nil or lower(tostring(have)) ~= lower(tostring(want)) then return false end
      named = named + 1
    end
  end
  return named > 0
end

-- An entry's own conditions and channels, as {field, {lowercased texts}} pairs;
-- false when it names only non-Windows sources (files), which no event carries.
local function entry_conds(entry, conds)
  for field, v in pairs(entry.conditions or {}) do
    local vals = {}
    for _, x in ipairs(list(v)) do vals[#vals + 1] = lower(text(x)) end
    conds[#conds + 1] = { field = field, values = vals }
  end
  if entry.sources then
    local chans = {}
    for _, s in ipairs(list(entry.sources)) do
      local ch = tostring(s):match("^WinEventLog:(.+)$")
      if ch then chans[#chans + 1] = lower(ch) end
    end
    if #chans == 0 then return false end
    conds[#conds + 1] = { field = "Channel", values = chans }
  end
  return true
end

-- A variant's identity: rules with the same one share its index.
local function variant_key(conds, rename)
  local parts = {}
  for _, c in ipairs(conds) do
    local vals = { unpack(c.values) }
    table.sort(vals)
    parts[#parts + 1] = c.field .. "=" .. table.concat(vals, "|")
  end
  table.sort(parts)
  local rn = {}
  for k, v in pairs(rename) do rn[#rn + 1] = k .. ">" .. v end
  table.sort(rn)
  return table.concat(parts, "&") .. "#" .. table.concat(rn, ",")
end

M.variant_key = variant_key  -- (sigma/collection.lua keys the variants of rules that name their Channel)

-- mapping: a table in thor.yml's shape ({logsources = {...}} or the entries).
-- Returns a resolver: resolve(ls) -> array of {conds=, rename=, key=} or nil.
function M.resolver(mapping)
  local entries = {}
  local src = mapping.logsources or mapping
  local names = {}
  for name in pairs(src) do names[#names + 1] = name end
  table.sort(names)  -- a stable order, so variants (and hits) do not vary by run
  for _, name in ipairs(names) do
    local e = src[name]
    if type(e) == "table" then entries[#entries + 1] = e end
  end

  local cache = {}
  return function(ls)
    ls = ls or {}
    -- tostring: a malformed rule may hold a table here (5.1's format wants strings)
    local ck = ("%s/%s/%s"):format(tostring(ls.category or ""), tostring(ls.product or ""),
                                   tostring(ls.service or ""))
    local hit = cache[ck]
    if hit ~= nil then return hit or nil end
    local alts, common, ok = {}, { conds = {}, rename = {} }, true
    for _, e in ipairs(entries) do
      if selects(e, ls) then
        local conds, rename = {}, {}
        if not entry_conds(e, conds) then ok = false end
        for k, v in pairs(e.fieldmappings or {}) do rename[k] = tostring(v) end
        if e.rewrite then
          -- the rewritten logsource is a service: its channels apply too
          local rw = { product = e.rewrite.product, service = e.rewrite.service }
          for _, r in ipairs(entries) do
            if r.category == nil and selects(r, rw) then
              if not entry_conds(r, conds) then ok = false end
            end
          end
        end
        if e.category ~= nil then
          alts[#alts + 1] = { conds = conds, rename = rename }
        else
          for _, c in ipairs(conds) do common.conds[#common.conds + 1] = c end
          for k, v in pairs(rename) do common.rename[k] = v end
        end
      end
    end
    if #alts == 0 and #common.conds > 0 then alts[1] = { conds = {}, rename = {} } end
    local variants
    if ok and #alts > 0 then
      variants = {}
      for _, a in ipairs(alts) do
        for _, c in ipairs(common.conds) do a.conds[#a.conds + 1] = c end
        for k, v in pairs(common.rename) do if a.rename[k] == nil then a.rename[k] = v end end
        if #a.conds > 0 then
          a.key = variant_key(a.conds, a.rename)
          variants[#variants + 1] = a
        end
      end
      if #variants == 0 then variants = nil end
    end
    cache[ck] = variants or false
    return variants
  end
end

return M
