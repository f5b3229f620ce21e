-- POST of a fixed JSON body from a file with a bearer token: JSON_PATH, JSON_FILE, BEARER
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("result")
local f = assert(io.open(os.getenv("JSON_FILE"), "r"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("JSON_PATH") or "/api/v1/audit/events"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BEARER")
done = function(summary, latency, requests) result_line(summary, latency) end
