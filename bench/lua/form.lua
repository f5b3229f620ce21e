-- POST of a fixed form body with optional Basic auth and Cookie:
--   FORM_PATH, FORM_BODY, BASIC_AUTH (base64 id:secret), COOKIE
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("result")
wrk.method = "POST"
wrk.path = os.getenv("FORM_PATH") or "/token"
wrk.body = os.getenv("FORM_BODY") or "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("BASIC_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Basic " .. auth end
local cookie = os.getenv("COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end
done = function(summary, latency, requests) result_line(summary, latency) end
