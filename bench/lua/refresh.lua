-- Refresh rotation: every connection follows a chain of its own, sending the refresh
-- token the previous answer returned. Starting tokens come from REFRESH_FILE, one per
-- line, one per connection and one more: wrk builds one request per thread that it
-- never sends. A thread keeps its chains' current tokens in a
-- queue: a request takes one, its answer puts the rotated one back, so no token is
-- presented twice while the thread's connections run concurrently.
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("result")
local starts = {}
for line in io.lines(os.getenv("REFRESH_FILE")) do starts[#starts + 1] = line end
local threads = {}
function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end
local queue, head, tail = {}, 1, 0
local function push(token)
  tail = tail + 1
  queue[tail] = token
end
function init(args)
  -- thread i of T (T from THREADS) takes lines i+1, i+1+T, …
  local step = tonumber(os.getenv("THREADS") or "1")
  for j = index + 1, #starts, step do push(starts[j]) end
end
local client = os.getenv("CLIENT_ID") or "bench-web"
request = function()
  local token = nil
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  else
    token = "none" -- a chain broke: the request fails and counts as an error
  end
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=" .. client .. "&refresh_token=" .. token)
end
response = function(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then push(next_token) end
end
done = function(summary, latency, requests) result_line(summary, latency) end
