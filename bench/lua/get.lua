-- GET of a fixed path (JWKS).
package.path = (os.getenv("LUA_DIR") or ".") .. "/?.lua;" .. package.path
require("result")
done = function(summary, latency, requests) result_line(summary, latency) end
