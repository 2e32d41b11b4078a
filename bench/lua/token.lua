-- POST to the token endpoint with the client's HTTP Basic credentials (BENCH_BASIC).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup, response, done = common.setup, common.response, common.done
local built

function init(args)
    built = wrk.format("POST", "/oauth/client_credential/accesstoken?grant_type=client_credentials",
        { ["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC") })
end

function request()
    return built
end
