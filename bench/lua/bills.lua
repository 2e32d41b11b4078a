-- GET a path of a random bulk customer (BENCH_PATH, `%d` for its id; the first page of its
-- bills by default), with the bearer token.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/v2/billing/customers/CLIENT_CODE/%d/bills"

setup, response, done = common.setup, common.response, common.done
local pick

function init(args)
    pick = common.prebuilt(function(customer)
        return wrk.format("GET", string.format(path, customer), common.headers())
    end)
end

-- Defined here, not in init, so that wrk sees a script with requests of its own.
function request()
    return pick()
end
