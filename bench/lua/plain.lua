-- GET BENCH_PATH, the same request every time, without credentials (`/health`).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup, response, done = common.setup, common.response, common.done
local built

function init(args)
    built = wrk.format("GET", os.getenv("BENCH_PATH"))
end

function request()
    return built
end
