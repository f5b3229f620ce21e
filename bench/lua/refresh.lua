-- Refresh rotation: each connection follows its own chain, sending the refresh token
-- the previous answer returned. Starting tokens come from REFRESH_FILE, one per line.
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("result")
local starts = {}
for line in io.lines(os.getenv("REFRESH_FILE")) do starts[#starts + 1] = line end
-- `index` is set per thread by setup(); `token` is this thread's current token.
local token = nil
local threads = {}
function setup(thread)
  thread:set("index", #threads + 1)
  table.insert(threads, thread)
end
function init(args) token = starts[index] end
local client = os.getenv("CLIENT_ID") or "bench-web"
request = function()
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=" .. client .. "&refresh_token=" .. token)
end
response = function(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then token = next_token end
end
done = function(summary, latency, requests) result_line(summary, latency) end
