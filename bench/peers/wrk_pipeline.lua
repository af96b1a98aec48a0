-- wrk script: send 16 pipelined GET /hello requests per write.
-- usage: wrk -s wrk_pipeline.lua http://127.0.0.1:PORT/hello
-- (depth can be changed with: wrk ... -- 32)
local depth = 16

init = function(args)
  if args[1] then depth = tonumber(args[1]) end
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil, wrk.path)
  end
  req = table.concat(r)
end

request = function()
  return req
end
