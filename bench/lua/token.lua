-- POST to the token endpoint with the client's HTTP Basic credentials (BENCH_BASIC).
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
