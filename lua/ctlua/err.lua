-- ctlua.err — the runtime's two error shapes, built in one place.
--
-- Misuse raises "bad argument #N to 'F' (message)": luaL_argerror's wording, so
-- that Lua-side and C-side checks read the same. Refusals by the kernel or by the
-- mode return nil, message, code (code: an errno name such as "ENOENT").
-- No state, no init: required by the modules that raise.

local M = {}

local format, select, error = string.format, select, error

--- M.badarg(n, fname, fmt, ...) -> the text of a bad-argument error
-- fmt is formatted only when arguments follow (a message holding '%' passes as
-- is); n = nil leaves out the argument number.
function M.badarg(n, fname, fmt, ...)
  local msg = select("#", ...) > 0 and format(fmt, ...) or fmt
  if n == nil then return format("bad argument to '%s' (%s)", fname, msg) end
  return format("bad argument #%d to '%s' (%s)", n, fname, msg)
end

--- M.argerror(level, n, fname, fmt, ...) -> raises M.badarg(n, fname, fmt, ...)
-- level as error() takes it in the caller: 1 = the caller, 2 = its caller...
-- (0: no position). Call it as a statement, never as `return argerror(...)`: a
-- tail call would take the caller's frame away and shift the level.
function M.argerror(level, n, fname, fmt, ...)
  error(M.badarg(n, fname, fmt, ...), level > 0 and level + 1 or 0)
end

--- M.fail(message, code) -> nil, message, code: a refusal, as the table
-- operations return it.
function M.fail(msg, code) return nil, msg, code end

return M
