-- GET the profile of a random bulk subscriber (MSISDN 5040000000000 + 10 × id + 1).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup, response, done = common.setup, common.response, common.done
local pick

function init(args)
    pick = common.prebuilt(function(customer)
        local msisdn = 5040000000000 + customer * 10 + 1
        return wrk.format("GET", string.format("/v2/billing/customers/%.0f/profile", msisdn), common.headers())
    end)
end

-- Defined here, not in init, so that wrk sees a script with requests of its own.
function request()
    return pick()
end
