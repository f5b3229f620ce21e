-- Authorization-code exchange: every request redeems a different code, read from
-- CODES_FILE (one per line, prepared beforehand); PKCE verifier and client fixed.
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("result")
-- Codes expire (60 s at most): the file is read newest first.
local codes = {}
for line in io.lines(os.getenv("CODES_FILE")) do table.insert(codes, 1, line) end
-- Thread t of T uses codes t, t+T, t+2T, … (T from THREADS), so no code is used twice.
local step = tonumber(os.getenv("THREADS") or "1")
local next_code = 0
local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end
function init(args)
  next_code = offset + 1 - step
end
local fixed = "grant_type=authorization_code&client_id=" .. (os.getenv("CLIENT_ID") or "bench-web")
  .. "&redirect_uri=" .. (os.getenv("REDIRECT_URI_ENC") or "")
  .. "&code_verifier=" .. (os.getenv("VERIFIER") or "")
request = function()
  next_code = next_code + step
  local code = codes[next_code] or codes[#codes]
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    fixed .. "&code=" .. code)
end
done = function(summary, latency, requests) result_line(summary, latency) end
