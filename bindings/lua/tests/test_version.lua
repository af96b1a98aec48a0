-- Versions agree (issue 19): ws101.VERSION is the C library's version
-- string (ws101_version_string, and ws101_version decoded), and the one
-- rockspec in bindings/lua carries the same version, "X.Y.Z-N", in its
-- file name and its `version` field.
local T = require "support"
local ws101 = T.ws101
local core = require "ws101.core"

local lmod = T.env("WS101_LUA_LMOD", "..")

local function rockspecs()
  local found = {}
  local p = assert(io.popen("ls '" .. lmod .. "'"))
  for name in p:lines() do
    if name:match("^ws101%-.+%.rockspec$") then found[#found + 1] = name end
  end
  p:close()
  return found
end

T.run{
  {"VERSION is the C library's", function()
    local s = core.ws101_version_string()
    T.eq(ws101.VERSION, s)
    local major, minor, patch = s:match("^(%d+)%.(%d+)%.(%d+)$")
    T.check(major, "version string " .. s .. " is X.Y.Z")
    local v = core.ws101_version()
    T.eq(("%d.%d.%d"):format(math.floor(v / 65536), math.floor(v / 256) % 256,
                             v % 256), s)
    T.eq(v, core.WS101_VERSION_HEX, "header the module was built with")
  end},
  {"the rockspec's version is the library's", function()
    local specs = rockspecs()
    T.eq(#specs, 1, "rockspecs in " .. lmod .. ": " .. table.concat(specs, " "))
    local name = specs[1]
    local from_name = name:match("^ws101%-(.+)%.rockspec$")
    local f = assert(io.open(lmod .. "/" .. name))
    local text = f:read("*a")
    f:close()
    local field = text:match('\nversion%s*=%s*"([^"]+)"')
    T.eq(field, from_name, "version field vs file name")
    local upstream, rev = field:match("^(%d+%.%d+%.%d+)%-(%d+)$")
    T.check(upstream and rev, "rockspec version " .. field .. " is X.Y.Z-N")
    T.eq(upstream, ws101.VERSION)
  end},
}
