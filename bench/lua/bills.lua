-- GET the first page of bills of a random bulk customer (BENCH_PATH may add a group).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local path = os.getenv("BENCH_PATH") or "/v2/billing/customers/CLIENT_CODE/%d/bills"

setup = common.setup
function init(args) common.init() end

function request()
    return wrk.format("GET", string.format(path, common.random_customer()), common.headers())
end
