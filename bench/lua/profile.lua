-- GET the profile of a random bulk subscriber (MSISDN 5040000000000 + 10 × id + 1).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
function init(args) common.init() end

function request()
    local msisdn = 5040000000000 + common.random_customer() * 10 + 1
    return wrk.format("GET", string.format("/v2/billing/customers/%.0f/profile", msisdn), common.headers())
end
