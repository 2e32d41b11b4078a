-- GET the first page of bills of bulk customers with the tag of the answer each already
-- has (BENCH_ETAGS: a file of lines "<customer id> <ETag>"), as a client that polls: every
-- answer must be a 304 (BENCH_EXPECT).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local path = "/v2/billing/customers/CLIENT_CODE/%d/bills"

setup, response, done = common.setup, common.response, common.done
local requests = {}

function init(args)
    common.init()
    for line in io.lines(os.getenv("BENCH_ETAGS")) do
        local customer, tag = line:match("^(%d+) (.+)$")
        local headers = common.headers()
        headers["If-None-Match"] = tag
        requests[#requests + 1] = wrk.format("GET", string.format(path, tonumber(customer)), headers)
    end
end

function request()
    return requests[math.random(#requests)]
end
