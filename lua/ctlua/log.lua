-- ctlua.log — ct.log.info/warn/error(fmt, ...): one line per message to stderr (the
-- default), to syslog, or to a file that is reopened on SIGHUP (logrotate friendly).
-- Lines are stamped with env.now: the recorded clock during --replay.
local err = require "ctlua.err"

local M = {}

local core, now
local sink, path, file, ident = "stderr", nil, nil, "ctlua"
local LEVELS = { info = "INFO", warn = "WARN", error = "ERROR" }
local SYSLOG = { info = 6, warn = 4, error = 3 }   -- LOG_INFO, LOG_WARNING, LOG_ERR

--- M.init(env): env.core (syslog), env.now
function M.init(env) core, now = env.core, env.now end

local function emit(level, fmt, ...)
  local ok, msg = pcall(string.format, fmt, ...)
  if not ok then err.argerror(3, 1, level, msg) end
  if sink == "syslog" then
    core.syslog(SYSLOG[level], msg)
    return
  end
  local t = now()
  local line = string.format("%s.%03dZ %s %s\n", os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)),
                             math.floor((t % 1) * 1000), LEVELS[level], msg)
  local out = file or io.stderr
  out:write(line)
  out:flush()
end

--- ct.log.info(fmt, ...), ct.log.warn(fmt, ...), ct.log.error(fmt, ...)
function M.info(fmt, ...) emit("info", fmt, ...) end
function M.warn(fmt, ...) emit("warn", fmt, ...) end
function M.error(fmt, ...) emit("error", fmt, ...) end

--- ct.log.open{to = "stderr" | "syslog" | "file", path = FILE, ident = NAME} -> true | nil, msg
function M.open(o)
  if type(o) ~= "table" then err.argerror(2, 1, "open", "table expected") end
  local to = o.to or "stderr"
  if file then file:close(); file = nil end
  if to == "file" then
    if type(o.path) ~= "string" then err.argerror(2, 1, "open", "path expected for a file") end
    local f, msg = io.open(o.path, "a")
    if not f then return nil, msg end
    file, path = f, o.path
  elseif to == "syslog" then
    ident = o.ident or ident
    core.syslog_open(ident)
  elseif to ~= "stderr" then
    err.argerror(2, 1, "open", "to: \"stderr\", \"syslog\" or \"file\"")
  end
  sink = to
  return true
end

-- SIGHUP: a rotated file is reopened under its name.
function M.reopen()
  if sink == "file" and path then
    if file then file:close() end
    file = io.open(path, "a")
  end
end

return M
